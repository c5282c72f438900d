/**
 * GetPredictResult end to end: the gateway's own checks (src/auth/predict-auth.ts),
 * an optional per-key rate limit, then the result fetched from the Executor that holds
 * it (src/fanout/predict-route.ts) and relayed untouched.
 *
 * Payloads are never cached, logged or kept: the reply buffer goes only to the client
 * whose request produced it.
 */
import { EventEmitter } from "node:events";
import { status as Status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { authorizePredictTask, checkPredictRequest, PredictRefusal, type RefusalReason } from "../auth/predict-auth";
import { KeyRateLimiter } from "../auth/rate-limit";
import type { TaskRequest } from "../gen/task/task";
import type { Generation } from "../generations/list-request";
import { RULE_TEXT, type SignatureRule } from "../generations/signature";
import { classifyUpstreamError } from "../upstream/errors";
import type { UpstreamPool } from "../upstream/pool";
import type { ExecutorRegistry } from "../upstream/registry";
import type { TaskView } from "../wire/task-view";
import { GatewayError } from "./cluster-tasks";
import { upstreamDeadline } from "./deadline";
import { predictRoute, type CandidateRole } from "./predict-route";
import type { CallContext } from "./report";

export interface PredictOptions {
  /** Largest reply relayed (bytes of the PredictResponse message). */
  maxBytes: number;
  /** Deadline of each call to an Executor, within the client's. */
  callTimeoutMs: number;
  /** Requests a minute per pubKey; 0 = no limit. */
  ratePerMinute: number;
  /** Results relayed at once; each holds about 3 × its size in memory. */
  maxConcurrent: number;
  /** Each Executor's generation, which decides the signature rule it accepts; v2 when absent. */
  generationOf?: (address: string) => Generation;
}

/** How tasks are loaded: GetTaskById semantics (NOT_FOUND / UNAVAILABLE as GatewayError). */
export interface TaskLookup {
  requireTask(taskID: string, ctx: CallContext, what: string): Promise<TaskView>;
}

export type AttemptOutcome = "ok" | "not-found" | "unreachable" | "error";

export interface PredictAttempt {
  requestId: string;
  address: string;
  role: CandidateRole;
  outcome: AttemptOutcome;
  code: Status;
}

export interface PredictStats {
  served: number;
  bytesRelayed: number;
  /** Calls answered by an Executor other than the label holder. */
  servedByFallback: number;
  refused: Record<RefusalReason, number>;
}

/** Events: "refusal" (reason, code), "attempt" (PredictAttempt), "served" (bytes). */
export interface PredictEvents {
  refusal: [reason: RefusalReason, code: Status];
  attempt: [attempt: PredictAttempt];
  served: [bytes: number];
}

/** Upstream codes after which the next candidate is tried. */
const UNREACHABLE = new Set([Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED]);

export class PredictService {
  readonly events = new EventEmitter<PredictEvents>();
  readonly stats: PredictStats = {
    served: 0,
    bytesRelayed: 0,
    servedByFallback: 0,
    refused: {
      bad_task_id: 0,
      bad_pub_key: 0,
      bad_signature: 0,
      rate_limited: 0,
      task_not_found: 0,
      task_unavailable: 0,
      not_predict_task: 0,
      not_requester: 0,
      not_finished: 0,
      no_route: 0,
      result_not_found: 0,
      owner_unavailable: 0,
      too_large: 0,
      upstream_error: 0,
      too_many_in_flight: 0,
      wrong_signature_rule: 0,
    },
  };
  private readonly limiter?: KeyRateLimiter;
  private inFlight = 0;

  constructor(
    private readonly tasks: TaskLookup,
    private readonly registry: ExecutorRegistry,
    private readonly pool: UpstreamPool,
    private readonly opts: PredictOptions,
    private readonly log: Logger,
  ) {
    if (opts.ratePerMinute > 0) this.limiter = new KeyRateLimiter(opts.ratePerMinute);
  }

  /** Serves one GetPredictResult: `rawRequest` goes upstream as the client sent it. */
  async handle(rawRequest: Buffer, req: TaskRequest, ctx: CallContext): Promise<Buffer> {
    try {
      const body = await this.serve(rawRequest, req, ctx);
      this.stats.served++;
      this.stats.bytesRelayed += body.length;
      this.events.emit("served", body.length);
      return body;
    } catch (err) {
      if (err instanceof PredictRefusal) {
        this.stats.refused[err.reason]++;
        this.events.emit("refusal", err.reason, err.code);
        this.log.info({ requestId: ctx.requestId, reason: err.reason, code: Status[err.code] }, "prediction refused");
        throw new GatewayError(err.code, err.message);
      }
      throw err;
    }
  }

  private async serve(rawRequest: Buffer, req: TaskRequest, ctx: CallContext): Promise<Buffer> {
    const { taskID, pubKey, rules } = checkPredictRequest(req);
    // After the signature check, so nobody can drain another key's bucket with forgeries.
    if (this.limiter && !this.limiter.take(pubKey.toString("hex"))) {
      throw new PredictRefusal(
        Status.RESOURCE_EXHAUSTED,
        "rate_limited",
        `rate limit: more than ${this.opts.ratePerMinute} prediction requests a minute for this pubKey (predict.ratePerMinute)`,
      );
    }
    const task = await this.load(taskID, ctx, "task", "task_not_found");
    authorizePredictTask(task, pubKey);
    if (task.modelTaskID === "") {
      throw new PredictRefusal(
        Status.FAILED_PRECONDITION,
        "no_route",
        `prediction task ${task.id} names no model task (algoParam.modelTaskID)`,
      );
    }
    const model = await this.load(task.modelTaskID, ctx, "model task", "no_route");
    // Only the relay holds payload memory, so only it is bounded: memory stays under
    // about maxConcurrent × 3 × maxBytes however many clients ask at once.
    if (this.inFlight >= this.opts.maxConcurrent) {
      throw new PredictRefusal(
        Status.RESOURCE_EXHAUSTED,
        "too_many_in_flight",
        `${this.inFlight} prediction results are being relayed already (predict.maxConcurrent); retry later`,
      );
    }
    this.inFlight++;
    try {
      return await this.fetch(rawRequest, task, model, ctx, rules);
    } finally {
      this.inFlight--;
    }
  }

  private async load(taskID: string, ctx: CallContext, what: string, notFound: RefusalReason): Promise<TaskView> {
    try {
      return await this.tasks.requireTask(taskID, ctx, what);
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      if (err.code === Status.NOT_FOUND) {
        // A missing model task means nobody can say where the result lives.
        const code = notFound === "task_not_found" ? Status.NOT_FOUND : Status.FAILED_PRECONDITION;
        throw new PredictRefusal(code, notFound, err.message);
      }
      throw new PredictRefusal(err.code, "task_unavailable", err.message);
    }
  }

  /** Asks the candidates in route order; moves on only after NOT_FOUND or an unreachable Executor. */
  private async fetch(
    rawRequest: Buffer,
    task: TaskView,
    model: TaskView,
    ctx: CallContext,
    rules: readonly SignatureRule[],
  ): Promise<Buffer> {
    const route = predictRoute(task, model, this.registry);
    this.keepAccepting(route, rules, task);
    const log = this.log.child({ requestId: ctx.requestId, taskID: task.id });
    if (route.skipped.length > 0) log.warn({ skipped: route.skipped }, "prediction candidates left out");
    if (route.candidates.length === 0) {
      throw new PredictRefusal(
        Status.FAILED_PRECONDITION,
        "no_route",
        `no allowed Executor among the data sets of model task ${model.id} (executors.discoveryAllow)`,
      );
    }
    const unreachable: string[] = [];
    let notFound = 0;
    for (const { address, role } of route.candidates) {
      if (ctx.signal?.aborted) throw new GatewayError(Status.CANCELLED, "cancelled by the client");
      if (Date.now() >= ctx.deadline) {
        throw new PredictRefusal(
          Status.DEADLINE_EXCEEDED,
          "owner_unavailable",
          `deadline exceeded before ${address} could be asked (unreachable: ${unreachable.join(", ") || "none"})`,
        );
      }
      try {
        const body = await this.pool.call(
          address,
          "getPredictResult",
          rawRequest,
          upstreamDeadline(ctx.deadline, this.opts.callTimeoutMs),
          { signal: ctx.signal },
        );
        this.attempt(ctx, address, role, "ok", Status.OK);
        // The pool enforces the limit already; this keeps the promise local.
        if (body.length > this.opts.maxBytes) throw this.tooLarge(`${body.length} bytes`);
        if (role !== "owner") this.stats.servedByFallback++;
        return body;
      } catch (err) {
        if (err instanceof PredictRefusal) throw err;
        const f = classifyUpstreamError(err);
        if (f.code === Status.NOT_FOUND) {
          this.attempt(ctx, address, role, "not-found", f.code);
          notFound++;
          continue;
        }
        if (UNREACHABLE.has(f.code)) {
          this.attempt(ctx, address, role, "unreachable", f.code);
          unreachable.push(address);
          log.warn({ executor: address, role, code: Status[f.code] }, "prediction candidate unreachable");
          continue;
        }
        this.attempt(ctx, address, role, "error", f.code);
        if (f.code === Status.RESOURCE_EXHAUSTED) throw this.tooLarge(`from ${address}: ${f.message}`);
        if (f.code === Status.CANCELLED && ctx.signal?.aborted) {
          throw new GatewayError(Status.CANCELLED, "cancelled by the client");
        }
        log.warn({ executor: address, role, code: Status[f.code], upstreamCode: f.upstreamCode }, "prediction failed");
        throw new PredictRefusal(
          f.code === Status.UNKNOWN ? Status.UNAVAILABLE : f.code,
          "upstream_error",
          `Executor ${address}: ${f.message}`,
        );
      }
    }
    if (unreachable.length > 0) {
      throw new PredictRefusal(
        Status.UNAVAILABLE,
        "owner_unavailable",
        `prediction result of task ${task.id}: unreachable: ${unreachable.join(", ")}; ${notFound} other Executor(s) do not have it`,
      );
    }
    throw new PredictRefusal(
      Status.NOT_FOUND,
      "result_not_found",
      `prediction result of task ${task.id} not found on ${notFound} Executor(s) of model task ${model.id}`,
    );
  }

  /**
   * The gateway cannot re-sign: a request goes only to Executors whose generation accepts
   * the rule it was signed with. If the label holder's does not, the request is refused
   * (FAILED_PRECONDITION), never sent to fail there; other candidates that would refuse it are left out.
   */
  private keepAccepting(
    route: { candidates: { address: string; role: string }[] },
    rules: readonly SignatureRule[],
    task: TaskView,
  ): void {
    const gen = (address: string): Generation => this.opts.generationOf?.(address) ?? "v2";
    const owner = route.candidates.find((c) => c.role === "owner");
    if (owner && !rules.includes(gen(owner.address))) {
      const g = gen(owner.address);
      throw new PredictRefusal(
        Status.FAILED_PRECONDITION,
        "wrong_signature_rule",
        `the request is signed under the ${rules.join("/")} rule (${rules.map((r) => RULE_TEXT[r]).join("; ")}), but ` +
          `the Executor holding the result of task ${task.id}, ${owner.address}, is ${g} and accepts only ${RULE_TEXT[g]}: ` +
          `sign the request with the ${g} rule (the gateway cannot re-sign it)`,
      );
    }
    const before = route.candidates.length;
    route.candidates = route.candidates.filter((c) => rules.includes(gen(c.address)));
    if (before > 0 && route.candidates.length === 0) {
      // No label holder known and every other candidate speaks the other generation.
      throw new PredictRefusal(
        Status.FAILED_PRECONDITION,
        "wrong_signature_rule",
        `the request is signed under the ${rules.join("/")} rule, but no Executor that may hold the result of task ${task.id} accepts it`,
      );
    }
  }

  private tooLarge(detail: string): PredictRefusal {
    return new PredictRefusal(
      Status.RESOURCE_EXHAUSTED,
      "too_large",
      `prediction result larger than predict.maxBytes (${this.opts.maxBytes} bytes): ${detail}`,
    );
  }

  private attempt(ctx: CallContext, address: string, role: CandidateRole, outcome: AttemptOutcome, code: Status): void {
    this.events.emit("attempt", { requestId: ctx.requestId, address, role, outcome, code });
  }
}
