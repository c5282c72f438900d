/**
 * GetPredictResult end to end, in one module: the gateway's own checks
 * (src/auth/predict-auth.ts), an optional per-key rate limit, the task and its model
 * task loaded through the read path (the TaskReader it is given: the cache in front of
 * the fan-out), the candidates from src/predict/route.ts, and the relay through each
 * candidate's ExecutorClient (deadline, circuit, outcome), untouched.
 *
 * Two ways out, the same checks and route: `handle` resolves with the whole reply (the
 * grpc-js server, the HTTP routes), `relay` with the owner's reply stream for the own
 * node:http2 server to pass on under flow control (src/transport/server.ts RelayReply):
 * never held whole, so a relay holds only its windows.
 *
 * Payloads are never cached, logged or kept: the reply goes only to the client whose
 * request produced it.
 */
import { status as Status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { authorizePredictTask, checkPredictRequest, PredictRefusal, type RefusalReason } from "../auth/predict-auth";
import { KeyRateLimiter } from "../auth/rate-limit";
import { GatewayError } from "../core/errors";
import type { TaskReader } from "../core/reader";
import type { CallContext } from "../core/report";
import { Topic } from "../core/topic";
import type { TaskRequest } from "../gen/task/task";
import type { Generation } from "../generations/list-request";
import { RULE_TEXT, type SignatureRule } from "../generations/signature";
import { UPSTREAM_STREAM_WINDOW_BYTES } from "../transport/client";
import { RELAY_QUEUE_BYTES, type RelayReply } from "../transport/server";
import type { ExecutorClient, ExecutorClients } from "../upstream/executor-client";
import type { Outcome } from "../upstream/outcome";
import type { TaskView } from "../wire/task-view";
import { predictRoute, type CandidateRole, type RouteMembers } from "./route";

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
  /** Bytes of results held (received, not yet delivered to their clients) above which new relays are refused. */
  maxBytesInFlight?: number;
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

export interface PredictRefusalEvent {
  reason: RefusalReason;
  code: Status;
}

function notAnswered(unreachable: readonly string[], timedOut: readonly string[]): string {
  const parts: string[] = [];
  if (timedOut.length > 0) parts.push(`no answer in time from: ${timedOut.join(", ")}`);
  if (unreachable.length > 0) parts.push(`unreachable: ${unreachable.join(", ")}`);
  return parts.join("; ") || "no candidate asked yet";
}

/** What the checks found: the task, its model task, and the rules its request was signed under. */
interface Checked {
  task: TaskView;
  model: TaskView;
  rules: readonly SignatureRule[];
}

/**
 * What a streamed relay holds of the byte budget: the upstream stream's receive window
 * and what is queued for the client before the upstream is paused.
 */
export const STREAMED_RELAY_BYTES = UPSTREAM_STREAM_WINDOW_BYTES + RELAY_QUEUE_BYTES;

export class PredictService {
  /** Each candidate asked, and how it answered. */
  readonly attempts = new Topic<PredictAttempt>();
  /** Each request refused (metrics). */
  readonly refusals = new Topic<PredictRefusalEvent>();
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
  private heldBytes = 0;

  constructor(
    private readonly tasks: TaskReader,
    private readonly members: RouteMembers,
    private readonly clients: ExecutorClients,
    private readonly opts: PredictOptions,
    private readonly log: Logger,
  ) {
    if (opts.ratePerMinute > 0) this.limiter = new KeyRateLimiter(opts.ratePerMinute);
  }

  /** Relays in flight and the bytes of results they hold (metrics, tests). */
  get holding(): { relays: number; bytes: number } {
    return { relays: this.inFlight, bytes: this.heldBytes };
  }

  /** True when results can be relayed as streams (the own node:http2 upstream transport). */
  get canStream(): boolean {
    return this.clients.transport.openStream !== undefined;
  }

  /**
   * Serves one GetPredictResult with the whole reply: `rawRequest` goes upstream as the
   * client sent it. `delivered`, when the caller can tell, settles once the client has
   * the reply or has gone: the relay's slot and bytes are held until then (a client that
   * does not read must not free its slot while its reply still sits in memory).
   */
  handle(rawRequest: Buffer, req: TaskRequest, ctx: CallContext, delivered?: Promise<unknown>): Promise<Buffer> {
    return this.refusalsCounted(ctx, async () => {
      const checked = await this.check(req, ctx);
      const slot = this.enter();
      try {
        const body = await this.fetch(
          checked,
          ctx,
          (client) => client.call("getPredictResult", rawRequest, ctx, { decode: (b) => b }),
          // The transport enforces the limit already; this keeps the promise local.
          (b) => {
            if (b.length > this.opts.maxBytes) throw this.tooLarge(`${b.length} bytes`);
          },
        );
        slot.hold(body.length);
        if (delivered) void delivered.then(slot.release, slot.release);
        else slot.release();
        this.stats.served++;
        this.stats.bytesRelayed += body.length;
        return body;
      } catch (err) {
        slot.release();
        throw err;
      }
    });
  }

  /**
   * Serves one GetPredictResult as a stream (requires `canStream`): the same checks and
   * route as `handle`; the candidate that answers with a reply (not a trailers-only
   * NOT_FOUND) is relayed by the server under flow control. The slot is held, with
   * STREAMED_RELAY_BYTES of the byte budget, until the relay is over (`onDone`); a client
   * that takes no bytes for `stallMs` is cut off.
   */
  relay(rawRequest: Buffer, req: TaskRequest, ctx: CallContext, stallMs: number): Promise<RelayReply> {
    return this.refusalsCounted(ctx, async () => {
      const checked = await this.check(req, ctx);
      const slot = this.enter();
      slot.hold(STREAMED_RELAY_BYTES);
      try {
        const upstream = await this.fetch(checked, ctx, (client) =>
          client.stream("getPredictResult", rawRequest, ctx)!,
        );
        return {
          upstream,
          maxBytes: this.opts.maxBytes,
          stallMs,
          tooLarge: (bytes) => this.tooLarge(`${bytes} bytes`).message,
          onDone: ({ ok, bytes, code }) => {
            slot.release();
            if (ok) {
              this.stats.served++;
              this.stats.bytesRelayed += bytes;
            } else if (code === Status.RESOURCE_EXHAUSTED && bytes === 0) {
              // Refused from the reply's length prefix, before any byte was sent on.
              this.refused("too_large", code, ctx);
            }
          },
        };
      } catch (err) {
        slot.release();
        throw err;
      }
    });
  }

  private async refusalsCounted<R>(ctx: CallContext, serve: () => Promise<R>): Promise<R> {
    try {
      return await serve();
    } catch (err) {
      if (err instanceof PredictRefusal) this.refused(err.reason, err.code, ctx);
      throw err;
    }
  }

  private refused(reason: RefusalReason, code: Status, ctx: CallContext): void {
    this.stats.refused[reason]++;
    this.refusals.publish({ reason, code });
    this.log.info({ requestId: ctx.requestId, reason, code: Status[code] }, "prediction refused");
  }

  /** The gateway's own checks, before any Executor is asked for the result. */
  private async check(req: TaskRequest, ctx: CallContext): Promise<Checked> {
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
    return { task, model, rules };
  }

  /**
   * A relay's slot. Only relays hold payload memory, so only they are bounded: a relay
   * holds its slot and its bytes from the fetch until its client has the reply or has gone.
   */
  private enter(): { hold: (bytes: number) => void; release: () => void } {
    if (this.inFlight >= this.opts.maxConcurrent) {
      throw new PredictRefusal(
        Status.RESOURCE_EXHAUSTED,
        "too_many_in_flight",
        `${this.inFlight} prediction results are being relayed already (predict.maxConcurrent); retry later`,
      );
    }
    const budget = this.opts.maxBytesInFlight ?? Infinity;
    if (this.heldBytes >= budget) {
      throw new PredictRefusal(
        Status.RESOURCE_EXHAUSTED,
        "too_many_in_flight",
        `${this.heldBytes} bytes of prediction results are waiting for their clients (predict.maxBytesInFlight = ${budget}); retry later`,
      );
    }
    this.inFlight++;
    let held = 0;
    let released = false;
    return {
      hold: (bytes) => {
        if (released) return;
        held += bytes;
        this.heldBytes += bytes;
      },
      release: () => {
        if (released) return;
        released = true;
        this.inFlight--;
        this.heldBytes -= held;
      },
    };
  }

  /** A task by ID through the read path; NOT_FOUND / UNAVAILABLE become this refusal. */
  private async load(taskID: string, ctx: CallContext, what: string, notFound: RefusalReason): Promise<TaskView> {
    const { task, report } = await this.tasks.get(taskID, ctx);
    if (task) return task;
    if (report.answered.length === 0) {
      throw new PredictRefusal(report.noAnswerStatus, "task_unavailable", `no Executor answered for ${what} ${taskID}`);
    }
    // A missing model task means nobody can say where the result lives.
    const code = notFound === "task_not_found" ? Status.NOT_FOUND : Status.FAILED_PRECONDITION;
    throw new PredictRefusal(code, notFound, `${what} ${taskID} not found on any Executor`);
  }

  /**
   * Asks the candidates in route order through their ExecutorClients; moves on only
   * after a not-found or an Executor that could not be reached (unreachable, circuit
   * open, address refused, no time for this one).
   */
  private async fetch<V>(
    { task, model, rules }: Checked,
    ctx: CallContext,
    ask: (client: ExecutorClient) => Promise<Outcome<V>>,
    checkAnswer?: (value: V) => void,
  ): Promise<V> {
    const route = predictRoute(task, model, this.members);
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
    /** Candidates that did not answer within their call's deadline. */
    const timedOut: string[] = [];
    /** Out of time is DEADLINE_EXCEEDED; "unreachable" only for a candidate that was not reached. */
    const noAnswer = (address: string, code: Status): void => {
      (code === Status.DEADLINE_EXCEEDED ? timedOut : unreachable).push(address);
    };
    let notFound = 0;
    for (const { address, role } of route.candidates) {
      if (ctx.signal?.aborted) throw new GatewayError(Status.CANCELLED, "cancelled by the client");
      if (Date.now() >= ctx.deadline) {
        throw new PredictRefusal(
          Status.DEADLINE_EXCEEDED,
          "owner_unavailable",
          `deadline exceeded before ${address} could be asked (${notAnswered(unreachable, timedOut)})`,
        );
      }
      const o = await ask(this.clients.get(address));
      switch (o.kind) {
        case "answered": {
          this.attempt(ctx, address, role, "ok", Status.OK);
          checkAnswer?.(o.value);
          if (role !== "owner") this.stats.servedByFallback++;
          return o.value;
        }
        case "not-found":
          this.attempt(ctx, address, role, "not-found", o.code);
          notFound++;
          continue;
        case "unreachable":
        case "circuit-open":
          // An Executor's own error (e.g. 10011, it cannot read its ledger) is an answer, not "unreachable".
          if (o.kind === "unreachable" && o.upstreamCode !== undefined) {
            this.attempt(ctx, address, role, "error", o.code);
            throw new PredictRefusal(o.code, "upstream_error", `Executor ${address}: ${o.message}`);
          }
          this.attempt(ctx, address, role, "unreachable", o.code);
          noAnswer(address, o.code);
          log.warn(
            { executor: address, role, code: Status[o.code], outcome: o.kind },
            "prediction candidate unreachable",
          );
          continue;
        case "shortfall":
          if (o.shortfall === "cancelled" && ctx.signal?.aborted) {
            this.attempt(ctx, address, role, "error", o.code);
            throw new GatewayError(Status.CANCELLED, "cancelled by the client");
          }
          this.attempt(ctx, address, role, "unreachable", o.code);
          noAnswer(address, o.code);
          log.warn(
            { executor: address, role, code: Status[o.code], shortfall: o.shortfall },
            "prediction candidate not asked",
          );
          continue;
        case "rejected":
        case "failed": {
          this.attempt(ctx, address, role, "error", o.code);
          if (o.code === Status.RESOURCE_EXHAUSTED) throw this.tooLarge(`from ${address}: ${o.message}`);
          log.warn(
            { executor: address, role, code: Status[o.code], upstreamCode: o.upstreamCode },
            "prediction failed",
          );
          // The Executor answered: its own error, mapped by code (src/upstream/error-codes.ts).
          throw new PredictRefusal(o.code, "upstream_error", `Executor ${address}: ${o.message}`);
        }
      }
    }
    if (timedOut.length > 0 || unreachable.length > 0) {
      throw new PredictRefusal(
        timedOut.length > 0 ? Status.DEADLINE_EXCEEDED : Status.UNAVAILABLE,
        "owner_unavailable",
        `prediction result of task ${task.id}: ${notAnswered(unreachable, timedOut)}; ${notFound} other Executor(s) do not have it`,
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
    this.attempts.publish({ requestId: ctx.requestId, address, role, outcome, code });
  }
}
