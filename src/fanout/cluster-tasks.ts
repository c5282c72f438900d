/**
 * The cluster-wide Task operations behind the API: fan-out and merge, with a seam
 * for caching merged answers and for authorizing prediction requests.
 */
import { status as Status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { TaskRequest } from "../gen/task/task";
import type { ListQuery } from "../merge/filter";
import { classifyUpstreamError } from "../upstream/errors";
import type { UpstreamPool } from "../upstream/pool";
import type { ExecutorRegistry } from "../upstream/registry";
import type { TaskView } from "../wire/task-view";
import { upstreamDeadline } from "./deadline";
import { PREDICT_TASK_TYPE, predictTargets, RouteError } from "./predict-route";
import { FanoutReport, type CallContext } from "./report";
import type { TaskFanout } from "./task-fanout";

export type CacheStatus = "hit" | "miss" | "stale" | "bypass";

export interface ListAnswer {
  tasks: TaskView[];
  report: FanoutReport;
  cache: CacheStatus;
}

export interface GetAnswer {
  task?: TaskView;
  report: FanoutReport;
  cache: CacheStatus;
}

export interface ReadOptions {
  /** `dai-cache-control: no-cache`: fetch fresh and refill. */
  noCache?: boolean;
}

/** An error with a client-facing status, raised anywhere on the data path. */
export class GatewayError extends Error {
  constructor(
    readonly code: Status,
    message: string,
    readonly report?: FanoutReport,
  ) {
    super(message);
  }
}

export class ClusterTasks {
  constructor(
    private readonly fanout: TaskFanout,
    private readonly registry: ExecutorRegistry,
    private readonly pool: UpstreamPool,
    private readonly opts: { callTimeoutMs: number },
    private readonly log: Logger,
  ) {}

  async list(q: ListQuery, ctx: CallContext, _opts: ReadOptions = {}): Promise<ListAnswer> {
    const { tasks, report } = await this.fanout.list(q, ctx);
    return { tasks, report, cache: "bypass" };
  }

  async get(taskID: string, ctx: CallContext, _opts: ReadOptions = {}): Promise<GetAnswer> {
    const { task, report } = await this.fanout.getTask(taskID, ctx);
    return { task, report, cache: "bypass" };
  }

  /** Resolves a task or fails with NOT_FOUND / UNAVAILABLE as GetTaskById would. */
  async requireTask(taskID: string, ctx: CallContext, what: string): Promise<TaskView> {
    const { task, report } = await this.get(taskID, ctx);
    if (task) return task;
    if (report.answered.length === 0) {
      throw new GatewayError(Status.UNAVAILABLE, `no Executor answered for ${what} ${taskID}`, report);
    }
    throw new GatewayError(Status.NOT_FOUND, `${what} ${taskID} not found on any Executor`, report);
  }

  /**
   * Relays GetPredictResult to the Executor holding the result. The client's request
   * bytes go upstream untouched and the reply comes back untouched.
   */
  async predict(rawRequest: Buffer, req: TaskRequest, ctx: CallContext): Promise<Buffer> {
    const task = await this.requireTask(req.taskID, ctx, "task");
    if (task.taskType !== PREDICT_TASK_TYPE) {
      throw new GatewayError(Status.FAILED_PRECONDITION, `task ${task.id} is not a prediction task`);
    }
    if (task.modelTaskID === "") {
      throw new GatewayError(Status.FAILED_PRECONDITION, `prediction task ${task.id} names no model task`);
    }
    const model = await this.requireTask(task.modelTaskID, ctx, "model task");
    let targets: string[];
    try {
      targets = predictTargets(model, this.registry);
    } catch (err) {
      if (err instanceof RouteError) throw new GatewayError(err.code, err.message);
      throw err;
    }
    const owner = targets[0]!;
    try {
      return await this.pool.call(
        owner,
        "getPredictResult",
        rawRequest,
        upstreamDeadline(ctx.deadline, this.opts.callTimeoutMs),
        {
          signal: ctx.signal,
        },
      );
    } catch (err) {
      const f = classifyUpstreamError(err);
      this.log.warn({ requestId: ctx.requestId, executor: owner, code: Status[f.code] }, "prediction owner failed");
      throw new GatewayError(
        f.code === Status.UNKNOWN ? Status.UNAVAILABLE : f.code,
        `result owner ${owner}: ${f.message}`,
      );
    }
  }
}
