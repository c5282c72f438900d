/**
 * Executor labels stay bounded: at most executors.maxExecutors distinct values, and the
 * series of an Executor that left the set disappear at the next scrape.
 */
import { status } from "@grpc/grpc-js";
import { FanoutReport } from "../../src/core/report";
import type { OutcomeEvent } from "../../src/upstream/outcome";
import { GatewayMetrics, OVERFLOW_EXECUTOR } from "../../src/observability/metrics";
import { parseExposition, sum } from "../helpers/prometheus";

/** A minimal Executor set: what ExecutorRegistry exposes, plus removal (which it lacks today). */
class ExecutorSet {
  readonly entries = new Map<string, { address: string; source: string }>();
  add(address: string, source = "seed"): void {
    this.entries.set(address, { address, source });
  }
  list(): { address: string; source: string }[] {
    return [...this.entries.values()];
  }
  get(address: string): unknown {
    return this.entries.get(address);
  }
}

async function scrape(m: GatewayMetrics) {
  return parseExposition((await m.render()).body);
}

const executorsIn = (samples: ReturnType<typeof parseExposition>): Set<string> =>
  new Set(samples.filter((s) => s.labels.executor !== undefined).map((s) => s.labels.executor!));

/** A sent call's outcome, classified as the ExecutorClient would (answered / not found / unreachable). */
function ev(e: Pick<OutcomeEvent, "address" | "method" | "code" | "durationMs">): OutcomeEvent {
  const kind =
    e.code === status.OK
      ? "answered"
      : e.code === status.NOT_FOUND
        ? "not-found"
        : e.code === status.UNAVAILABLE || e.code === status.DEADLINE_EXCEEDED
          ? "unreachable"
          : "failed";
  return { ...e, wireCode: e.code, kind, message: "", sent: true };
}

describe("GatewayMetrics Executor labels", () => {
  it("removes every series of an Executor that left the set", async () => {
    const set = new ExecutorSet();
    set.add("10.0.0.1:8184");
    set.add("10.0.0.2:8184", "discovered");
    const m = new GatewayMetrics({ maxExecutors: 8, executors: set, defaultMetrics: false });
    for (const address of set.entries.keys()) {
      m.upstreamCall(ev({ address, method: "listTask", code: status.OK, durationMs: 3 }));
      m.upstreamCall(ev({ address, method: "getTaskById", code: status.UNAVAILABLE, durationMs: 30 }));
      m.circuitState(address, "open");
    }
    let samples = await scrape(m);
    expect(executorsIn(samples)).toEqual(new Set(["10.0.0.1:8184", "10.0.0.2:8184"]));
    expect(sum(samples, "dai_gateway_executors", { set: "known" })).toBe(2);
    expect(sum(samples, "dai_gateway_executors", { set: "discovered" })).toBe(1);

    set.entries.delete("10.0.0.2:8184");
    samples = await scrape(m);
    expect(executorsIn(samples)).toEqual(new Set(["10.0.0.1:8184"]));
    expect(sum(samples, "dai_gateway_upstream_requests_total")).toBe(2);
    expect(sum(samples, "dai_gateway_executors", { set: "known" })).toBe(1);
  });

  it("never exceeds maxExecutors distinct addresses (the rest share one overflow label)", async () => {
    const set = new ExecutorSet();
    const addresses = Array.from({ length: 5 }, (_, i) => `10.0.1.${i}:8184`);
    for (const a of addresses) set.add(a);
    const m = new GatewayMetrics({ maxExecutors: 3, executors: set, defaultMetrics: false });
    for (const address of addresses)
      m.upstreamCall(ev({ address, method: "listTask", code: status.OK, durationMs: 1 }));
    const samples = await scrape(m);
    const labels = executorsIn(samples);
    expect(labels).toEqual(new Set([...addresses.slice(0, 3), OVERFLOW_EXECUTOR]));
    expect(sum(samples, "dai_gateway_upstream_requests_total", { executor: OVERFLOW_EXECUTOR })).toBe(2);
    expect(sum(samples, "dai_gateway_upstream_requests_total")).toBe(addresses.length);
  });

  it("frees the label budget of departed Executors for new ones", async () => {
    const set = new ExecutorSet();
    set.add("a:1");
    set.add("b:1");
    const m = new GatewayMetrics({ maxExecutors: 2, executors: set, defaultMetrics: false });
    m.upstreamCall(ev({ address: "a:1", method: "listTask", code: status.OK, durationMs: 1 }));
    m.upstreamCall(ev({ address: "b:1", method: "listTask", code: status.OK, durationMs: 1 }));
    set.entries.delete("a:1");
    set.add("c:1");
    m.upstreamCall(ev({ address: "c:1", method: "listTask", code: status.OK, durationMs: 1 }));
    expect(executorsIn(await scrape(m))).toEqual(new Set(["b:1", "c:1"]));
  });

  it("counts healthy Executors: reachable on the last call and circuit not open", async () => {
    const set = new ExecutorSet();
    for (const a of ["h:1", "down:1", "open:1", "never:1"]) set.add(a);
    const m = new GatewayMetrics({ maxExecutors: 8, executors: set, defaultMetrics: false });
    m.upstreamCall(ev({ address: "h:1", method: "listTask", code: status.NOT_FOUND, durationMs: 1 }));
    m.upstreamCall(ev({ address: "down:1", method: "listTask", code: status.DEADLINE_EXCEEDED, durationMs: 1 }));
    m.upstreamCall(ev({ address: "open:1", method: "listTask", code: status.OK, durationMs: 1 }));
    m.circuitState("open:1", "open");
    const samples = await scrape(m);
    expect(sum(samples, "dai_gateway_executors", { set: "healthy" })).toBe(1);
    expect(sum(samples, "dai_gateway_executor_up", { executor: "down:1" })).toBe(0);
    expect(sum(samples, "dai_gateway_circuit_state", { executor: "open:1" })).toBe(2);
  });

  it("bounds free-form label values and counts fan-out reports", async () => {
    const m = new GatewayMetrics({ maxExecutors: 2, defaultMetrics: false });
    m.predictRefusal("Bad Signature!");
    m.predictRefusal("x".repeat(500));
    m.cacheOp("list", "hit");
    m.cacheOp("list", "miss");
    m.redisLatency(2);
    m.redisError();
    const r = new FanoutReport();
    r.failed.push({ address: "a:1", reason: "down" });
    r.conflicts = 3;
    r.dropped = 2;
    m.fanout({ method: "ListTask", report: r });
    m.fanout({ method: "ListTask", report: new FanoutReport() });
    const samples = await scrape(m);
    const reasons = samples.filter((s) => s.name === "dai_gateway_predict_refusals_total").map((s) => s.labels.reason!);
    expect(reasons).toContain("bad_signature_");
    for (const reason of reasons) expect(reason.length).toBeLessThanOrEqual(32);
    expect(sum(samples, "dai_gateway_cache_operations_total", { kind: "list" })).toBe(2);
    expect(sum(samples, "dai_gateway_redis_roundtrip_seconds_count")).toBe(1);
    expect(sum(samples, "dai_gateway_redis_errors_total")).toBe(1);
    expect(sum(samples, "dai_gateway_fanouts_total", { method: "ListTask" })).toBe(2);
    expect(sum(samples, "dai_gateway_partial_answers_total", { method: "ListTask" })).toBe(1);
    expect(sum(samples, "dai_gateway_merge_conflicts_total", { method: "ListTask" })).toBe(3);
    expect(sum(samples, "dai_gateway_dropped_tasks_total", { method: "ListTask" })).toBe(2);
  });

  it("exports the cache store's counters and state", async () => {
    const source = { store: { kind: "redis", healthy: true }, stats: { storeErrors: 0, storeTimeouts: 0 } };
    const m = new GatewayMetrics({ maxExecutors: 2, defaultMetrics: false });
    m.trackCacheStore(source);
    let samples = await scrape(m);
    expect(sum(samples, "dai_gateway_cache_store_up", { backend: "redis" })).toBe(1);
    expect(sum(samples, "dai_gateway_redis_errors_total")).toBe(0);
    source.store.healthy = false;
    source.stats.storeErrors = 4;
    source.stats.storeTimeouts = 3;
    samples = await scrape(m);
    expect(sum(samples, "dai_gateway_cache_store_up", { backend: "redis" })).toBe(0);
    expect(sum(samples, "dai_gateway_redis_errors_total")).toBe(7);
    source.stats.storeErrors = 5;
    samples = await scrape(m);
    expect(sum(samples, "dai_gateway_redis_errors_total")).toBe(8);
  });
});

describe("GatewayMetrics served calls", () => {
  it("counts Task API calls from either side, and not other routes", async () => {
    const m = new GatewayMetrics({ maxExecutors: 2, defaultMetrics: false });
    m.servedCall({ method: "ListTask", code: status.OK, durationMs: 1, cache: "hit" });
    m.servedCall({ method: "GET /v1/executors", code: status.OK, durationMs: 1 });
    const samples = await scrape(m);
    expect(sum(samples, "dai_gateway_requests_total")).toBe(1);
    expect(sum(samples, "dai_gateway_cache_operations_total", { kind: "list", result: "hit" })).toBe(1);
  });
});
