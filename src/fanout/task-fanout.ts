/**
 * The gather half of the fan-out, and the reader the cache decorates: ListTask and
 * GetTaskById asked of the Executor set, round by round (the model: Thanos
 * pkg/store/proxy.go — the fan-out is handed its clients and never changes the set).
 *
 * Discovery: the tasks one round returns name Executors (`dataSets[].address`); they
 * are offered to the set's owner through `discover`, and allowed new ones are asked in
 * a further round of the same call (ListTask: the tasks that can reach the answer at
 * once, the undecoded rest through the bounded background pass, src/fanout/discovery-pass.ts), until no Executor is left unasked or
 * `executors.discoveryRounds` further rounds have run. Candidates and departed
 * Executors (not `live`) are asked too, but never waited for more than
 * `candidateWaitMs` after the live ones finished, and their failures are not the
 * answer's: they do not make it partial (README "Executor set lifecycle"). What is done with the replies
 * is the pure reduce (src/fanout/reduce.ts); the GetTaskById hedge is src/fanout/hedge.ts.
 */
import pLimit from "p-limit";
import type { Logger } from "pino";
import type { GetAnswer, ListAnswer, ReadOptions, TaskReader } from "../core/reader";
import { FanoutReport, type CallContext } from "../core/report";
import { Topic } from "../core/topic";
import { GetTaskRequest } from "../gen/task/task";
import { upstreamListRequest } from "../generations/executors";
import type { Generation } from "../generations/list-request";
import type { ListQuery } from "../merge/filter";
import type { ExecutorClient } from "../upstream/executor-client";
import { describeOutcome, type Outcome } from "../upstream/outcome";
import { decodeTaskChecked, decodeTaskList, type TaskView } from "../wire/task-view";
import { isTerminal } from "../merge/status";
import { DISCOVERY_PASS_DEFAULTS, DiscoveryPass, type DiscoveryPassOptions } from "./discovery-pass";
import { Hedge, HEDGE_REASON } from "./hedge";
import { GetReducer, ListReducer, screenListReply, sentQuery } from "./reduce";

export { HEDGE_REASON };
export { upstreamQuery } from "./reduce";

export interface FanoutOptions {
  discoveryRounds: number;
  /** Calls in flight per fan-out; 0: no per-fan-out bound (the gateway-wide bound still holds). */
  concurrency: number;
  /** GetTaskById: stop waiting for stragglers this long after the first copy (0: off). */
  hedgeDelayMs?: number;
  /** How long, after the live Executors finished, the fan-out waits for candidates (default 200). */
  candidateWaitMs?: number;
  /** Bounds of the background discovery pass over undecoded tasks (default DISCOVERY_PASS_DEFAULTS). */
  discoveryPass?: DiscoveryPassOptions;
}

/** One member of the Executor set as the fan-out sees it. */
export interface FanoutTarget {
  address: string;
  /** The Executor's key, when known (the cluster-wide ListTask asks each Executor with its own). */
  pubKey?: Buffer;
  /** Its wire generation (executors.generation, per-seed `generation`); v2 when absent. */
  generation?: Generation;
  client: ExecutorClient;
  /** A member of the live set (false: a candidate or a departed Executor, asked without counting). */
  live: boolean;
}

export interface FanoutDone {
  method: "ListTask" | "GetTaskById";
  report: FanoutReport;
}

export class TaskFanout implements TaskReader {
  /** Each finished fan-out (metrics: partial answers, conflicts, dropped tasks). */
  readonly done = new Topic<FanoutDone>();
  /** Discovery over the tasks ListTask fan-outs did not decode (bounded, in the background). */
  readonly pass: DiscoveryPass;

  constructor(
    /** The current Executor set, read again each round. */
    private readonly targets: () => readonly FanoutTarget[],
    /** Offers the addresses in tasks Executor `from` sent (screened) to the set's owner. */
    private readonly discover: (tasks: readonly TaskView[], from: string) => void,
    private readonly opts: FanoutOptions,
    private readonly log: Logger,
  ) {
    this.pass = new DiscoveryPass(discover, opts.discoveryPass ?? DISCOVERY_PASS_DEFAULTS);
  }

  /**
   * Asks, round by round, every target not yet asked that `eligible` accepts; stops
   * when none is left, after the discovery rounds, when `stop` says so, or when
   * `settled` resolves (the hedge).
   */
  private async gather(
    asked: Set<string>,
    eligible: (t: FanoutTarget) => boolean,
    ask: (t: FanoutTarget) => Promise<void>,
    stop: () => boolean,
    rounds: number,
    settled?: Promise<void>,
    /** Called before each further round (ListTask: discovery from the answer so far). */
    beforeRound?: () => void,
  ): Promise<void> {
    const limit = this.opts.concurrency > 0 ? pLimit(this.opts.concurrency) : (fn: () => Promise<void>) => fn();
    const candidateWaitMs = this.opts.candidateWaitMs ?? 200;
    for (let round = 0; round <= rounds; round++) {
      if (round > 0) beforeRound?.();
      const pending = this.targets().filter((t) => !asked.has(t.address) && eligible(t));
      if (pending.length === 0 || stop()) break;
      for (const t of pending) asked.add(t.address);
      const live = Promise.all(pending.filter((t) => t.live).map((t) => limit(() => ask(t))));
      const others = pending.filter((t) => !t.live);
      const extra = Promise.all(others.map((t) => limit(() => ask(t))));
      await (settled ? Promise.race([live, settled]) : live);
      if (others.length === 0 || stop()) continue;
      // Candidates keep running in the background (their answer makes them members); the
      // answer waits for them only briefly, so one that never answers costs clients nothing.
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, candidateWaitMs)));
      await Promise.race(settled ? [extra, waited, settled] : [extra, waited]);
      clearTimeout(timer);
    }
  }

  private failed(report: FanoutReport, log: Logger, o: Outcome<unknown>): void {
    const reason = describeOutcome(o);
    report.failed.push({ address: o.address, reason, ...(o.kind === "circuit-open" ? {} : { code: o.code }) });
    log.warn({ executor: o.address, reason, ms: Math.round(o.durationMs) }, "executor failed");
  }

  /**
   * ListTask: each reply is scanned, not decoded (src/fanout/reduce.ts); a reply that
   * does not scan is a malformed reply of that Executor. Discovery reads the screened
   * tasks that can reach the answer at once — before each further round and at the end —
   * and hands the undecoded rest to the bounded background pass (src/fanout/discovery-pass.ts).
   */
  async list(q: ListQuery, ctx: CallContext): Promise<ListAnswer> {
    const report = new FanoutReport();
    const clusterView = q.pubKey.length === 0;
    const reducer = new ListReducer(q);
    const log = this.log.child({ requestId: ctx.requestId, method: "ListTask" });
    let closed = false;
    const offered = new Set<TaskView>();
    const discoverCandidates = (): void => {
      reducer.peek();
      const bySource = new Map<string, TaskView[]>();
      for (const [t, source] of reducer.screened()) {
        if (offered.has(t)) continue;
        offered.add(t);
        const from = source ?? "";
        const list = bySource.get(from);
        if (list) list.push(t);
        else bySource.set(from, [t]);
      }
      for (const [from, tasks] of bySource) this.discover(tasks, from);
    };
    await this.gather(
      new Set(),
      (t) => !clusterView || t.pubKey !== undefined,
      async (t) => {
        report.asked.push(t.address);
        // In the Executor's own layout (v2 or v3, src/generations/executors.ts).
        const { sent, bytes } = upstreamListRequest(
          t.generation ?? "v2",
          sentQuery(q, clusterView ? (t.pubKey ?? Buffer.alloc(0)) : q.pubKey),
        );
        const o = await t.client.call("listTask", bytes, ctx, {
          // Scanning is the decode: a reply that does not scan fails (WireError) as malformed.
          // A candidate answering after the answer was made is decoded as before: its reply
          // is not part of the answer, but what it names is still discovered (within its budget).
          decode: (b): { tasks: number } | { late: TaskView[] } =>
            closed ? { late: decodeTaskList(b) } : { tasks: reducer.add(b, sent, t.address) },
        });
        if (o.kind === "answered" && "late" in o.value) {
          this.discover(screenListReply(o.value.late, sent, {}).kept, t.address);
          return;
        }
        if (closed) return;
        if (o.kind !== "answered") return t.live ? this.failed(report, log, o) : undefined;
        report.answered.push(t.address);
        log.debug(
          { executor: t.address, tasks: "tasks" in o.value ? o.value.tasks : 0, ms: Math.round(o.durationMs) },
          "executor answered",
        );
      },
      () => ctx.signal?.aborted === true,
      this.opts.discoveryRounds,
      undefined,
      discoverCandidates,
    );
    closed = true;
    const r = reducer.result();
    // A copy a client could not decode is a dropped task, as any invalid one (counted in
    // `dropped`), not a failed Executor: one bad old task must not make every answer that
    // reaches it partial, and so uncached, for ever. The operator learns who sent it.
    for (const [address, problem] of reducer.malformed()) {
      log.warn({ executor: address, reason: problem }, "executor sent a malformed task (dropped)");
    }
    discoverCandidates();
    this.pass.offer(reducer.undecoded(this.pass.knows));
    report.dropped = r.dropped;
    report.conflicts = r.conflicts;
    if (r.dropped > 0) log.warn({ dropped: r.dropped, reasons: r.drops }, "dropped tasks from Executors");
    this.done.publish({ method: "ListTask", report });
    return { tasks: r.tasks, report, cache: "bypass" };
  }

  /**
   * GetTaskById asks every Executor (any of them may hold a more advanced copy).
   * `preferred` (known holders) are asked first: a terminal copy from them is the
   * answer (no copy can be more advanced); otherwise the rest are asked too. With
   * `hedgeDelayMs`, see src/fanout/hedge.ts.
   */
  async get(taskID: string, ctx: CallContext, opts: ReadOptions = {}): Promise<GetAnswer> {
    const report = new FanoutReport();
    const reducer = new GetReducer(taskID);
    const holders: string[] = [];
    const log = this.log.child({ requestId: ctx.requestId, method: "GetTaskById" });
    const req = Buffer.from(GetTaskRequest.encode({ taskID }).finish());
    const hedge = new Hedge(this.opts.hedgeDelayMs ?? 0);
    let terminal = false;
    let closed = false;

    const ask = async (t: FanoutTarget): Promise<void> => {
      if (hedge.done) return;
      report.asked.push(t.address);
      const own = hedge.track(t.address);
      const signal = ctx.signal ? AbortSignal.any([ctx.signal, own]) : own;
      const o = await t.client.call("getTaskById", req, ctx, {
        // The copy may be the answer, relayed as it is: a copy a client cannot decode whole is a malformed reply.
        decode: (b) => decodeTaskChecked(Buffer.from(b)),
        signal,
      });
      hedge.untrack(t.address);
      if (hedge.done || closed) return;
      if (o.kind === "not-found") {
        report.answered.push(t.address);
        return;
      }
      if (o.kind !== "answered") return t.live ? this.failed(report, log, o) : undefined;
      report.answered.push(t.address);
      const problem = reducer.add(o.value);
      if (problem !== undefined) {
        log.warn({ executor: t.address, reason: problem }, "dropped the task an Executor sent");
        return;
      }
      holders.push(t.address);
      if (isTerminal(o.value.status)) terminal = true;
      log.debug({ executor: t.address, ms: Math.round(o.durationMs) }, "executor answered");
      this.discover([o.value], t.address);
      hedge.onCopy(o.value);
    };
    const stop = (): boolean => ctx.signal?.aborted === true || hedge.done;
    const asked = new Set<string>();
    const preferred = new Set(opts.preferred ?? []);
    if (preferred.size > 0) {
      await this.gather(asked, (t) => preferred.has(t.address), ask, stop, this.opts.discoveryRounds, hedge.settled);
      hedge.rearm();
    }
    if (!terminal) await this.gather(asked, () => true, ask, stop, this.opts.discoveryRounds, hedge.settled);
    closed = true;
    for (const address of hedge.cut) report.failed.push({ address, reason: HEDGE_REASON });
    hedge.finish();
    const r = reducer.result();
    report.dropped = r.dropped;
    report.conflicts = r.conflicts;
    this.done.publish({ method: "GetTaskById", report });
    return { task: r.task, report, cache: "bypass", holders };
  }
}
