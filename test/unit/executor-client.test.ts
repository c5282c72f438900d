/**
 * The one classification of "did the Executor answer?" (src/upstream/outcome.ts) and
 * the ExecutorClient that owns it: deadline fitting, what counts against the circuit
 * (and what is the gateway's own shortfall), the gateway-wide limiter, observers.
 */
import { status } from "@grpc/grpc-js";
import { ExecutorClients } from "../../src/upstream/executor-client";
import { RefusedAddressError } from "../../src/upstream/connect";
import { ExecutorHealth } from "../../src/upstream/health";
import { classifyFailure, isHealthy, verdict, type OutcomeEvent } from "../../src/upstream/outcome";
import { executorError, MemoryTransport, serviceError, type Answer } from "../helpers/memory-transport";

const fair = { aborted: false, cutShort: false };

describe("classifyFailure", () => {
  test.each([
    [
      "UNKNOWN + XDAT0004 (v1.x)",
      serviceError(status.UNKNOWN, 'x: {"code":"XDAT0004","message":"task not found"}'),
      "not-found",
      true,
    ],
    ["NOT_FOUND", serviceError(status.NOT_FOUND, "gone"), "not-found", true],
    [
      "UNKNOWN + XDAT0002: an application answer",
      serviceError(status.UNKNOWN, '{"code":"XDAT0002","message":"bad"}'),
      "rejected",
      true,
    ],
    ["PERMISSION_DENIED", serviceError(status.PERMISSION_DENIED, "no"), "rejected", true],
    ["UNAVAILABLE", serviceError(status.UNAVAILABLE, "refused"), "unreachable", false],
    ["DEADLINE_EXCEEDED with a fair deadline", serviceError(status.DEADLINE_EXCEEDED, "slow"), "unreachable", false],
    ["UNKNOWN + XDAT0001", serviceError(status.UNKNOWN, '{"code":"XDAT0001","message":"internal"}'), "failed", false],
    ["RESOURCE_EXHAUSTED (reply over the limit)", serviceError(status.RESOURCE_EXHAUSTED, "too big"), "failed", false],
    ["a local error without a code", new Error("boom"), "failed", false],
  ])("%s -> %s", (_name, err, kind, healthy) => {
    const c = classifyFailure(err, fair);
    expect(c.kind).toBe(kind);
    expect(isHealthy(c.kind)).toBe(healthy);
  });

  test("the gateway's own shortfalls are neutral for the circuit", () => {
    const cutShort = classifyFailure(serviceError(status.DEADLINE_EXCEEDED, "x"), { aborted: false, cutShort: true });
    expect([cutShort.kind, cutShort.shortfall]).toEqual(["shortfall", "no-time"]);
    const cancelled = classifyFailure(serviceError(status.CANCELLED, "x"), { aborted: true, cutShort: false });
    expect([cancelled.kind, cancelled.shortfall]).toEqual(["shortfall", "cancelled"]);
    const refused = classifyFailure(new RefusedAddressError("refused: x"), fair);
    expect([refused.kind, refused.shortfall, refused.sent]).toEqual(["shortfall", "refused-address", false]);
    for (const c of [cutShort, cancelled, refused]) expect(verdict(c.kind)).toBe("neutral");
    expect(verdict("unreachable")).toBe("failure");
    expect(verdict("not-found")).toBe("success");
    expect(verdict("circuit-open")).toBe("neutral");
  });
});

function rig(
  answer: (n: number) => Answer,
  opts: { failures?: number; maxUpstreamCalls?: number; timeoutMs?: number } = {},
) {
  const transport = new MemoryTransport();
  let n = 0;
  transport.on("e:1", () => answer(n++));
  const circuits = new ExecutorHealth({
    failures: opts.failures ?? 2,
    halfOpenAfterMs: 60_000,
    maxHalfOpenAfterMs: 60_000,
  });
  const t = opts.timeoutMs ?? 1000;
  const clients = new ExecutorClients(transport, circuits, {
    callTimeoutMs: { listTask: t, getTaskById: t, getPredictResult: t * 2 },
    maxUpstreamCalls: opts.maxUpstreamCalls ?? 8,
  });
  const events: OutcomeEvent[] = [];
  clients.outcomes.subscribe((e) => events.push(e));
  return { transport, circuits, clients, client: clients.get("e:1"), events };
}

const ctx = (ms = 10_000) => ({ deadline: Date.now() + ms, requestId: "t" });
const raw = { decode: (b: Buffer) => b };

describe("ExecutorClient", () => {
  test("an answer is decoded; a reply that does not decode is a failure", async () => {
    const r = rig(() => Buffer.from("ok"));
    const o = await r.client.call("listTask", Buffer.alloc(0), ctx(), { decode: (b) => b.toString() });
    expect(o.kind === "answered" && o.value).toBe("ok");
    const bad = await r.client.call("listTask", Buffer.alloc(0), ctx(), {
      decode: () => {
        throw new Error("nope");
      },
    });
    expect(bad.kind).toBe("failed");
    expect(r.events.map((e) => e.kind)).toEqual(["answered", "failed"]);
    expect("value" in r.events[0]!).toBe(false);
  });

  test("the deadline is the method's timeout, cut to fit inside the client's", async () => {
    const r = rig(() => Buffer.alloc(0), { timeoutMs: 1000 });
    const before = Date.now();
    await r.client.call("listTask", Buffer.alloc(0), ctx(60_000), raw);
    await r.client.call("getPredictResult", Buffer.alloc(0), ctx(60_000), raw);
    await r.client.call("listTask", Buffer.alloc(0), ctx(500), raw);
    const [list, predict, tight] = r.transport.calls.map((c) => c.deadline.getTime() - before);
    expect(list).toBeGreaterThanOrEqual(1000);
    expect(list).toBeLessThan(1100);
    expect(predict).toBeGreaterThanOrEqual(2000);
    // 500 ms left: a reply margin is kept back for merging and sending.
    expect(tight).toBeLessThan(500);
  });

  test("unreachable calls open the circuit; then the Executor is not called", async () => {
    const r = rig(() => ({ code: status.UNAVAILABLE, details: "down" }), { failures: 2 });
    for (let i = 0; i < 2; i++)
      expect((await r.client.call("listTask", Buffer.alloc(0), ctx(), raw)).kind).toBe("unreachable");
    expect(r.circuits.state("e:1").state).toBe("open");
    const skipped = await r.client.call("listTask", Buffer.alloc(0), ctx(), raw);
    expect([skipped.kind, skipped.sent]).toEqual(["circuit-open", false]);
    expect(r.transport.calls).toHaveLength(2);
  });

  test("a call through a client taken before its address was removed leaves no circuit behind", async () => {
    const r = rig(() => ({ code: status.UNAVAILABLE, details: "down" }));
    const held = r.client;
    await held.call("listTask", Buffer.alloc(0), ctx(), raw);
    expect(r.circuits.size).toBe(1);
    r.clients.remove("e:1");
    expect(r.circuits.size).toBe(0);
    // A fan-out (or a relay's candidate loop) still holding the old client calls once more.
    await held.call("listTask", Buffer.alloc(0), ctx(), raw);
    expect(r.circuits.size).toBe(0);
  });

  test("a status probe goes around the circuit: it is sent while the circuit is open and does not count", async () => {
    const r = rig(() => ({ code: status.UNAVAILABLE, details: "down" }), { failures: 1 });
    await r.client.call("listTask", Buffer.alloc(0), ctx(), raw);
    expect(r.circuits.state("e:1").state).toBe("open");
    const probe = await r.client.call("getTaskById", Buffer.alloc(0), ctx(), { ...raw, probe: true });
    expect([probe.kind, probe.sent]).toEqual(["unreachable", true]);
    expect(r.circuits.state("e:1").consecutiveFailures).toBe(1);
  });

  test("not-found and application errors never count against the Executor", async () => {
    const r = rig((n) => (n % 2 ? executorError("XDAT0004", "nf") : executorError("XDAT0002", "bad")), { failures: 1 });
    for (let i = 0; i < 4; i++) await r.client.call("getTaskById", Buffer.alloc(0), ctx(), raw);
    expect(r.circuits.state("e:1")).toMatchObject({ state: "closed", consecutiveFailures: 0 });
  });

  test("a timeout under a deadline the client cut short is the gateway's shortfall, not counted", async () => {
    const r = rig(() => ({ code: status.DEADLINE_EXCEEDED, details: "timeout" }), { failures: 1, timeoutMs: 10_000 });
    const o = await r.client.call("listTask", Buffer.alloc(0), ctx(300), raw);
    expect([o.kind, o.kind === "shortfall" && o.shortfall]).toEqual(["shortfall", "no-time"]);
    expect(r.circuits.state("e:1").state).toBe("closed");
  });

  test("a call our client cancelled is not counted; one never started is not sent", async () => {
    const r = rig(() => "hang", { failures: 1 });
    const ac = new AbortController();
    const pending = r.client.call("listTask", Buffer.alloc(0), { ...ctx(), signal: ac.signal }, raw);
    await new Promise((res) => setImmediate(res));
    ac.abort();
    const o = await pending;
    expect([o.kind, o.shortfall, o.sent]).toEqual(["shortfall", "cancelled", true]);
    const again = await r.client.call("listTask", Buffer.alloc(0), { ...ctx(), signal: ac.signal }, raw);
    expect([again.kind, again.sent]).toEqual(["shortfall", false]);
    expect(r.circuits.state("e:1").state).toBe("closed");
  });

  test("waiting for a slot of the gateway-wide bound until no time is left is a 'queued' shortfall", async () => {
    const r = rig((n) => (n === 0 ? "hang" : Buffer.alloc(0)), { maxUpstreamCalls: 1, failures: 1 });
    const ac = new AbortController();
    const first = r.client.call("listTask", Buffer.alloc(0), { ...ctx(), signal: ac.signal }, raw);
    const queued = r.client.call("listTask", Buffer.alloc(0), { ...ctx(30), requestId: "q" }, raw);
    await new Promise((res) => setTimeout(res, 60));
    ac.abort();
    await first;
    const o = await queued;
    expect([o.kind, o.kind === "shortfall" && o.shortfall, o.sent]).toEqual(["shortfall", "queued", false]);
    expect(r.transport.calls).toHaveLength(1);
    expect(r.circuits.state("e:1").state).toBe("closed");
  });
});
