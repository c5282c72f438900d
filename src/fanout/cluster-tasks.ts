/**
 * The cluster-wide Task operations behind the API: fan-out and merge, with a seam
 * for caching merged answers and for authorizing prediction requests.
 */
import { status as Status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { listMatchesNothing } from "../api/validate";
import type { TaskRequest } from "../gen/task/task";
import type { ListQuery } from "../merge/filter";
import type { UpstreamPool } from "../upstream/pool";
import type { ExecutorRegistry } from "../upstream/registry";
import type { TaskView } from "../wire/task-view";
import type { PredictService } from "./predict-service";
import { FanoutReport, type CallContext } from "./report";
import type { TaskFanout } from "./task-fanout";

export type CacheStatus = "hit" | "miss" | "stale" | "bypass";

export interface ListAnswer {
  /** Must not be changed: it may be a cache snapshot shared by many answers. */
  tasks: readonly TaskView[];
  report: FanoutReport;
  cache: CacheStatus;
}

export interface GetAnswer {
  task?: TaskView;
  report: FanoutReport;
  cache: CacheStatus;
  /** Executors that returned a copy in the fetch behind this answer (when known). */
  holders?: string[];
}

export interface ReadOptions {
  /** `dai-cache-control: no-cache`: fetch fresh and refill. */
  noCache?: boolean;
  /** GetTaskById for a person (HTTP, dashboard): also say which Executors hold the task. */
  holders?: boolean;
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

/** The cache in front of the fan-out (src/cache). */
export interface AnswerCache {
  list(q: ListQuery, ctx: CallContext, opts?: ReadOptions): Promise<ListAnswer>;
  get(taskID: string, ctx: CallContext, opts?: ReadOptions): Promise<GetAnswer>;
}

export class ClusterTasks {
  constructor(
    private readonly fanout: TaskFanout,
    private readonly registry: ExecutorRegistry,
    private readonly pool: UpstreamPool,
    private readonly opts: { callTimeoutMs: number },
    private readonly log: Logger,
    private readonly cache?: AnswerCache,
  ) {}

  async list(q: ListQuery, ctx: CallContext, opts: ReadOptions = {}): Promise<ListAnswer> {
    // A key no task can carry: the empty list an Executor gives, without asking one.
    if (listMatchesNothing(q)) return { tasks: [], report: new FanoutReport(), cache: "bypass" };
    if (this.cache) return this.cache.list(q, ctx, opts);
    const { tasks, report } = await this.fanout.list(q, ctx);
    return { tasks, report, cache: "bypass" };
  }

  async get(taskID: string, ctx: CallContext, opts: ReadOptions = {}): Promise<GetAnswer> {
    if (this.cache) return this.cache.get(taskID, ctx, opts);
    const { task, report, holders } = await this.fanout.getTask(taskID, ctx);
    return { task, report, cache: "bypass", holders };
  }

  /** Resolves a task or fails with NOT_FOUND / UNAVAILABLE as GetTaskById would. */
  async requireTask(taskID: string, ctx: CallContext, what: string): Promise<TaskView> {
    const { task, report } = await this.get(taskID, ctx);
    if (task) return task;
    if (report.answered.length === 0) {
      throw new GatewayError(report.noAnswerStatus, `no Executor answered for ${what} ${taskID}`, report);
    }
    throw new GatewayError(Status.NOT_FOUND, `${what} ${taskID} not found on any Executor`, report);
  }

  /** Prediction handling (src/fanout/predict-service.ts); wired by the gateway, as it loads tasks through this class. */
  predictions?: PredictService;

  predict(rawRequest: Buffer, req: TaskRequest, ctx: CallContext): Promise<Buffer> {
    if (!this.predictions) return Promise.reject(new GatewayError(Status.UNIMPLEMENTED, "predictions not configured"));
    return this.predictions.handle(rawRequest, req, ctx);
  }
}
