/**
 * The Executor set's owner and what reads it: one typed change event per change (and
 * the version that keys the cache moves with it), and the status tracker judging
 * health by the one outcome classification.
 */
import { status } from "@grpc/grpc-js";
import { AllowList } from "../../src/upstream/allowlist";
import { ExecutorClients } from "../../src/upstream/executor-client";
import { ExecutorStatusTracker } from "../../src/upstream/executor-status";
import { ExecutorHealth } from "../../src/upstream/health";
import { ExecutorRegistry, type ExecutorSetChange } from "../../src/upstream/registry";
import { decodeTaskView } from "../../src/wire/task-view";
import { executorError, KEY, listReply, MemoryTransport, task, taskReply } from "../helpers/memory-transport";

describe("ExecutorRegistry changes", () => {
  test("seeds, discovery, other replicas and prediction routing all enter through offer; one event each", () => {
    const reg = new ExecutorRegistry(new AllowList(["10.0.0.0/8"]), 10);
    const seen: ExecutorSetChange[] = [];
    reg.changes.subscribe((c) => seen.push(c));
    reg.addSeed("10.0.0.1:8184");
    reg.offer("10.0.0.2:8184", KEY(2), "shared");
    reg.offer("10.0.0.3:8184", undefined, "prediction");
    reg.discoverFrom([decodeTaskView(taskReply(task("t", { executors: [{ key: 1, address: "10.0.0.1:8184" }] })))]);
    reg.offer("192.168.0.1:8184", KEY(4), "discovery"); // not allowed: no event
    expect(seen.map((c) => [c.kind, c.entry.address, c.entry.source, c.entry.via ?? null])).toEqual([
      ["added", "10.0.0.1:8184", "seed", null],
      ["added", "10.0.0.2:8184", "discovered", "shared"],
      ["added", "10.0.0.3:8184", "discovered", "prediction"],
      ["key-learned", "10.0.0.1:8184", "seed", null],
    ]);
    expect(seen.map((c) => c.version)).toEqual([1, 2, 3, 4]);
    expect(reg.version).toBe(4);
    // Seeds and what another replica vouches for are members; what discovery and routing offer is a candidate until it answers.
    expect(reg.list().map((e) => e.membership)).toEqual(["member", "member", "candidate"]);
  });
});

describe("ExecutorStatusTracker", () => {
  function rig(answers: Record<string, () => ReturnType<typeof executorError> | Buffer>) {
    const reg = new ExecutorRegistry(new AllowList([]), 10);
    const transport = new MemoryTransport();
    for (const [address, a] of Object.entries(answers)) {
      reg.addSeed(address, address.startsWith("k") ? KEY(9) : undefined);
      transport.on(address, a);
    }
    const circuits = new ExecutorHealth({ failures: 5, halfOpenAfterMs: 1000, maxHalfOpenAfterMs: 1000 });
    const clients = new ExecutorClients(transport, circuits, {
      callTimeoutMs: { listTask: 1000, getTaskById: 1000, getPredictResult: 1000 },
      maxUpstreamCalls: 8,
    });
    return { tracker: new ExecutorStatusTracker(reg, clients, { callTimeoutMs: 1000, probeIntervalMs: 0 }), transport };
  }

  test("a not-found answer to the probe, in either code family, is healthy; an unreachable one is not", async () => {
    const r = rig({
      "a.example:1": () => executorError("XDAT0004", "task dai-gateway-health-probe not found"),
      "b.example:1": () => executorError("10004", "task not found"),
      "c.example:1": () => ({ code: status.UNAVAILABLE, details: "connection refused" }) as never,
    });
    const byAddress = new Map((await r.tracker.snapshot()).map((s) => [s.address, s]));
    expect(byAddress.get("a.example:1")).toMatchObject({ healthy: true });
    expect(byAddress.get("a.example:1")?.lastError).toBeUndefined();
    expect(byAddress.get("b.example:1")).toMatchObject({ healthy: true });
    expect(byAddress.get("c.example:1")).toMatchObject({ healthy: false, lastError: "connection refused" });
    expect(r.transport.asked("getTaskById").sort()).toEqual(["a.example:1", "b.example:1", "c.example:1"]);
  });

  test("with its key known the probe is a ListTask, and it counts the Executor's tasks", async () => {
    const r = rig({ "k.example:1": () => listReply([task("t1"), task("t2")]) });
    const [s] = await r.tracker.snapshot();
    expect(s).toMatchObject({ address: "k.example:1", healthy: true, tasks: 2 });
    expect(r.transport.asked()).toEqual(["k.example:1"]);
  });
});
