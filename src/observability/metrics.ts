/**
 * The gateway's Prometheus metrics. Each gateway owns its own registry (not prom-client's
 * global one) so a process — or a test — can run several gateways side by side.
 *
 * The rest of the code reports through the small methods below; none of them can throw
 * or grow without bound: Executor labels are capped at `executors.maxExecutors` and the
 * series of an Executor that left the set are removed at the next scrape.
 */
import { status as Status } from "@grpc/grpc-js";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { FanoutReport } from "../core/report";
import type { OutcomeEvent } from "../upstream/outcome";
import { METHOD_PATHS, methodName } from "../wire/facts";

export const METRIC_PREFIX = "dai_gateway_";

/** Label used once the Executor label budget is spent (should never show in practice). */
export const OVERFLOW_EXECUTOR = "_other";

/** One Executor's upstream series for one method and code. */
interface UpstreamSeries {
  requests: { inc(): void };
  duration: { observe(value: number): void };
}

export type CacheResult = "hit" | "miss" | "stale" | "bypass" | "error";
export type CircuitState = "closed" | "half-open" | "open";

const CIRCUIT_VALUE: Record<CircuitState, number> = { closed: 0, "half-open": 1, open: 2 };

/** What the metrics need to know about the Executor set (ExecutorRegistry fits). */
export interface ExecutorSetView {
  list(): ReadonlyArray<{ address: string; source: string; membership?: string }>;
  get(address: string): unknown;
}

// Seconds. Served calls span cache hits (sub-ms) to fan-outs near the deadline.
const SERVED_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const UPSTREAM_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const REDIS_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** Keeps free-form label values (reasons, cache kinds) short and from a safe alphabet. */
function token(value: string): string {
  const t = value
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .slice(0, 32);
  return t === "" ? "unknown" : t;
}

const LINT_FAILING_DEFAULTS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/** The Task API's methods, the `method` label of served calls. */
const TASK_METHODS: ReadonlySet<string> = new Set(
  (Object.keys(METHOD_PATHS) as (keyof typeof METHOD_PATHS)[]).map((m) => methodName(m)),
);

/** Cache entry kind of a served method. */
const CACHE_KIND: Record<string, string> = { ListTask: "list", GetTaskById: "task" };

/** What the metrics read from the cache (GatewayCache's `store` and `stats` fit). */
export interface CacheStoreSource {
  store: { kind: string; healthy: boolean };
  stats: { storeErrors: number; storeTimeouts: number };
}

/** What the metrics read from the own server's stream limit (Http2GrpcServer fits). */
export interface StreamLimitSource {
  streamsPerConnection: number;
  heldConnections: number;
}

const statusName = (code: Status): string => Status[code] ?? "UNKNOWN";

export interface GatewayMetricsOptions {
  /** Cap on distinct Executor label values (`executors.maxExecutors`). */
  maxExecutors: number;
  /** The Executor set, for set sizes and to drop series of Executors that left. */
  executors?: ExecutorSetView;
  /** Default process metrics (process_*, nodejs_*). On by default. */
  defaultMetrics?: boolean;
  /** The event loop's sustained lag, ms (src/core/loop-monitor.ts). */
  lagMs?: () => number;
}

export class GatewayMetrics {
  readonly registry = new Registry();

  private readonly requests: Counter<"method" | "code">;
  private readonly requestDuration: Histogram<"method" | "code">;
  private readonly upstreamRequests: Counter<"executor" | "method" | "code">;
  private readonly upstreamDuration: Histogram<"executor" | "method">;
  private readonly executorUp: Gauge<"executor">;
  private readonly circuit: Gauge<"executor">;
  private readonly fanouts: Counter<"method">;
  private readonly partial: Counter<"method">;
  private readonly conflicts: Counter<"method">;
  private readonly dropped: Counter<"method">;
  private readonly cacheOps: Counter<"kind" | "result">;
  private readonly redisDuration: Histogram;
  private readonly redisErrors: Counter;
  private readonly refusals: Counter<"reason">;

  /** Executor -> the (method, code) pairs it has series for; bounded by maxExecutors. */
  private readonly shed: Counter<"reason">;
  /** Executor label -> its upstream series, by `method\ncode` (children kept: no label lookup per call). */
  private readonly labelled = new Map<string, Map<string, UpstreamSeries>>();
  private readonly reachable = new Map<string, boolean>();
  private readonly circuitStates = new Map<string, CircuitState>();
  private cacheStore?: CacheStoreSource;
  private readonly streamLimits = new Map<string, StreamLimitSource>();
  /** Store errors already exported (the source's counters are monotonic). */
  private storeErrorsSeen = 0;

  constructor(private readonly opts: GatewayMetricsOptions) {
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      // Gauges named *_total fail `promtool check metrics`; nodejs_active_{handles,requests,resources} stay.
      for (const name of LINT_FAILING_DEFAULTS) this.registry.removeSingleMetric(name);
    }

    this.requests = new Counter({
      name: `${METRIC_PREFIX}requests_total`,
      help: "Task API calls served, by method and gRPC status code.",
      labelNames: ["method", "code"],
      registers,
    });
    this.requestDuration = new Histogram({
      name: `${METRIC_PREFIX}request_duration_seconds`,
      help: "Time to serve a Task API call, by method and gRPC status code.",
      labelNames: ["method", "code"],
      buckets: SERVED_BUCKETS,
      registers,
    });
    this.upstreamRequests = new Counter({
      name: `${METRIC_PREFIX}upstream_requests_total`,
      help: "Calls to Executors, by Executor address, method and gRPC status code (OK = answered).",
      labelNames: ["executor", "method", "code"],
      registers,
    });
    this.upstreamDuration = new Histogram({
      name: `${METRIC_PREFIX}upstream_request_duration_seconds`,
      help: "Duration of calls to Executors, by Executor address and method.",
      labelNames: ["executor", "method"],
      buckets: UPSTREAM_BUCKETS,
      registers,
    });
    this.executorUp = new Gauge({
      name: `${METRIC_PREFIX}executor_up`,
      help: "1 if the last call to this Executor reached it (it answered, even with an error), 0 if unreachable or timed out.",
      labelNames: ["executor"],
      registers,
    });
    this.circuit = new Gauge({
      name: `${METRIC_PREFIX}circuit_state`,
      help: "Circuit breaker state per Executor: 0 closed, 1 half-open, 2 open.",
      labelNames: ["executor"],
      registers,
    });
    const executorSets: Gauge<"set"> = new Gauge({
      name: `${METRIC_PREFIX}executors`,
      help: "Executor set sizes: known (seeds + discovered), discovered, healthy (reachable and circuit not open).",
      labelNames: ["set"],
      registers,
      collect: () => {
        const sizes = this.executorSetSizes();
        executorSets.set({ set: "known" }, sizes.known);
        executorSets.set({ set: "discovered" }, sizes.discovered);
        executorSets.set({ set: "healthy" }, sizes.healthy);
        let candidates = 0;
        let departed = 0;
        for (const e of this.opts.executors?.list() ?? []) {
          if (e.membership === "candidate") candidates++;
          else if (e.membership === "departed") departed++;
        }
        executorSets.set({ set: "live" }, sizes.known - candidates - departed);
        executorSets.set({ set: "candidate" }, candidates);
        executorSets.set({ set: "departed" }, departed);
      },
    });
    const streams: Gauge<"listener"> = new Gauge({
      name: `${METRIC_PREFIX}streams_per_connection`,
      help: "HTTP/2 streams a busy client connection may open now (lowered while calls queue: api.queueTargetMs).",
      labelNames: ["listener"],
      registers,
      collect: () => {
        for (const [listener, s] of this.streamLimits) streams.set({ listener }, s.streamsPerConnection);
      },
    });
    const held: Gauge<"listener"> = new Gauge({
      name: `${METRIC_PREFIX}held_connections`,
      help: "Client connections told the lowered stream limit (they queued calls behind their own while calls waited).",
      labelNames: ["listener"],
      registers,
      collect: () => {
        for (const [listener, s] of this.streamLimits) held.set({ listener }, s.heldConnections);
      },
    });
    const lag: Gauge = new Gauge({
      name: `${METRIC_PREFIX}event_loop_lag_seconds`,
      help: "Sustained lag of the gateway's event loop (what load shedding reads).",
      registers,
      collect: () => {
        if (this.opts.lagMs) lag.set(this.opts.lagMs() / 1000);
      },
    });
    this.shed = new Counter({
      name: `${METRIC_PREFIX}admission_refusals_total`,
      help: "Calls refused at admission, by reason: draining, global, connection, overloaded, deadline.",
      labelNames: ["reason"],
      registers,
    });
    this.fanouts = new Counter({
      name: `${METRIC_PREFIX}fanouts_total`,
      help: "Fan-outs to the Executor set, by method (cache hits do not fan out).",
      labelNames: ["method"],
      registers,
    });
    this.partial = new Counter({
      name: `${METRIC_PREFIX}partial_answers_total`,
      help: "Fan-outs in which at least one Executor failed (answers were partial), by method.",
      labelNames: ["method"],
      registers,
    });
    this.conflicts = new Counter({
      name: `${METRIC_PREFIX}merge_conflicts_total`,
      help: "Task copies that disagreed across Executors and were resolved by merging, by method.",
      labelNames: ["method"],
      registers,
    });
    this.dropped = new Counter({
      name: `${METRIC_PREFIX}dropped_tasks_total`,
      help: "Tasks from Executors dropped as invalid or not matching the request, by method.",
      labelNames: ["method"],
      registers,
    });
    this.cacheOps = new Counter({
      name: `${METRIC_PREFIX}cache_operations_total`,
      help: "Cache lookups by kind of entry and result (hit, miss, stale, bypass, error).",
      labelNames: ["kind", "result"],
      registers,
    });
    this.redisDuration = new Histogram({
      name: `${METRIC_PREFIX}redis_roundtrip_seconds`,
      help: "Round-trip time of Redis commands issued by the cache.",
      buckets: REDIS_BUCKETS,
      registers,
    });
    this.redisErrors = new Counter({
      name: `${METRIC_PREFIX}redis_errors_total`,
      help: "Redis commands that failed or timed out (the cache is bypassed for that call).",
      registers,
      collect: () => {
        const stats = this.cacheStore?.stats;
        if (!stats) return;
        const total = stats.storeErrors + stats.storeTimeouts;
        if (total > this.storeErrorsSeen) this.redisErrors.inc(total - this.storeErrorsSeen);
        this.storeErrorsSeen = Math.max(this.storeErrorsSeen, total);
      },
    });
    const storeUp: Gauge<"backend"> = new Gauge({
      name: `${METRIC_PREFIX}cache_store_up`,
      help: "1 while the cache store (memory or redis) answers, 0 while it is bypassed.",
      labelNames: ["backend"],
      registers,
      collect: () => {
        const store = this.cacheStore?.store;
        if (store) storeUp.set({ backend: token(store.kind) }, store.healthy ? 1 : 0);
      },
    });
    this.refusals = new Counter({
      name: `${METRIC_PREFIX}predict_refusals_total`,
      help: "GetPredictResult requests the gateway refused before relaying, by reason.",
      labelNames: ["reason"],
      registers,
    });
  }

  /** Hook for the request pipeline (gRPC and HTTP alike): every served call, and how the cache answered it. */
  readonly servedCall = (e: { method: string; code: Status; durationMs: number; cache?: CacheResult }): void => {
    // Only Task API calls (whichever side they came in on); GET /v1/executors and the like are not.
    if (!TASK_METHODS.has(e.method)) return;
    const labels = { method: e.method, code: statusName(e.code) };
    this.requests.inc(labels);
    this.requestDuration.observe(labels, e.durationMs / 1000);
    if (e.cache !== undefined) this.cacheOp(CACHE_KIND[e.method] ?? e.method, e.cache);
  };

  /**
   * Exports the cache store's own counters (src/cache CacheStats and CacheStore fit):
   * store errors and timeouts as dai_gateway_redis_errors_total, and whether the store answers.
   */
  trackCacheStore(source: CacheStoreSource): void {
    this.cacheStore = source;
  }

  /** The own server of `listener` (api or v3): the streams each client connection may open now. */
  trackStreamLimit(listener: "api" | "v3", source: StreamLimitSource): void {
    this.streamLimits.set(listener, source);
  }

  /**
   * Hook for the ExecutorClients' outcomes: every call sent to an Executor. Calls never
   * sent (circuit open, address refused, no time left) are not upstream requests;
   * `executor_up` follows the outcome classification: 0 when unreachable, 1 when it
   * answered (even with an error or something unusable), unchanged for the gateway's
   * own shortfalls (our client went away, no time left).
   */
  readonly upstreamCall = (e: OutcomeEvent): void => {
    if (!e.sent) return;
    const method = methodName(e.method);
    // The status as the Executor (or the transport) returned it, as before: Executors send their errors as UNKNOWN.
    const code = statusName(e.wireCode);
    const executor = this.executorLabel(e.address);
    const series = this.labelled.get(executor)!;
    const pair = `${method}\n${code}`;
    let s = series.get(pair);
    if (s === undefined) {
      s = {
        requests: this.upstreamRequests.labels({ executor, method, code }),
        duration: this.upstreamDuration.labels({ executor, method }),
      };
      series.set(pair, s);
    }
    s.requests.inc();
    s.duration.observe(e.durationMs / 1000);
    if (e.kind !== "shortfall") {
      const up = e.kind !== "unreachable";
      // Set on change only (the gauge keeps its value); the overflow label is shared, so always.
      if (executor === OVERFLOW_EXECUTOR) this.executorUp.set({ executor }, up ? 1 : 0);
      else if (this.reachable.get(executor) !== up) {
        this.executorUp.set({ executor }, up ? 1 : 0);
        this.reachable.set(executor, up);
      }
    }
  };

  /** Hook for the fan-out: one report per ListTask/GetTaskById fan-out. */
  readonly fanout = ({ method, report }: { method: string; report: FanoutReport }): void => {
    this.fanouts.inc({ method });
    if (report.partial) this.partial.inc({ method });
    if (report.conflicts > 0) this.conflicts.inc({ method }, report.conflicts);
    if (report.dropped > 0) this.dropped.inc({ method }, report.dropped);
  };

  /** Cache: one lookup of an entry of `kind` (e.g. "list", "task") and its result. */
  cacheOp(kind: string, result: CacheResult): void {
    this.cacheOps.inc({ kind: token(kind), result });
  }

  /** Cache: one Redis command's round trip. */
  redisLatency(ms: number): void {
    this.redisDuration.observe(ms / 1000);
  }

  /** Cache: one Redis command that failed or timed out. */
  redisError(): void {
    this.redisErrors.inc();
  }

  /** GetPredictResult refused before relaying; `reason` is a short fixed token (e.g. "bad_signature"). */
  /** A call refused at admission (src/api/admission.ts). */
  readonly admissionRefusal = (reason: string): void => {
    this.shed.inc({ reason: token(reason) });
  };

  predictRefusal(reason: string): void {
    this.refusals.inc({ reason: token(reason) });
  }

  /** Circuit breaker: the state of an Executor's circuit changed. */
  circuitState(address: string, state: CircuitState): void {
    const executor = this.executorLabel(address);
    this.circuit.set({ executor }, CIRCUIT_VALUE[state]);
    if (executor !== OVERFLOW_EXECUTOR) this.circuitStates.set(executor, state);
  }

  /** Removes every series labelled with this Executor (it left the set). */
  forgetExecutor(address: string): void {
    const pairs = this.labelled.get(address);
    if (!pairs) return;
    for (const pair of pairs.keys()) {
      const [method, code] = pair.split("\n") as [string, string];
      this.upstreamRequests.remove({ executor: address, method, code });
      this.upstreamDuration.remove({ executor: address, method });
    }
    this.executorUp.remove({ executor: address });
    this.circuit.remove({ executor: address });
    this.labelled.delete(address);
    this.reachable.delete(address);
    this.circuitStates.delete(address);
  }

  /** The Prometheus text exposition of everything registered. */
  async render(): Promise<{ contentType: string; body: string }> {
    // Before collecting: the registry serializes metrics in order, not after all collect()s.
    this.forgetDeparted();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Known, discovered and healthy Executors; also drops series of Executors that left. */
  executorSetSizes(): { known: number; discovered: number; healthy: number } {
    const set = this.opts.executors;
    if (!set) return { known: 0, discovered: 0, healthy: 0 };
    this.forgetDeparted();
    let discovered = 0;
    let healthy = 0;
    const entries = set.list();
    for (const e of entries) {
      if (e.source === "discovered") discovered++;
      if (this.reachable.get(e.address) === true && this.circuitStates.get(e.address) !== "open") healthy++;
    }
    return { known: entries.length, discovered, healthy };
  }

  private forgetDeparted(): void {
    const set = this.opts.executors;
    if (!set) return;
    for (const address of [...this.labelled.keys()]) {
      if (address !== OVERFLOW_EXECUTOR && set.get(address) === undefined) this.forgetExecutor(address);
    }
  }

  private executorLabel(address: string): string {
    if (this.labelled.has(address)) return address;
    if (this.labelled.size >= this.opts.maxExecutors) this.forgetDeparted();
    const key = this.labelled.size >= this.opts.maxExecutors ? OVERFLOW_EXECUTOR : address;
    if (!this.labelled.has(key)) this.labelled.set(key, new Map());
    return key;
  }
}
