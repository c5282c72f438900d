/**
 * The Executor set's owner and what reads it: one typed change event per change (and
 * the version that keys the cache moves with it), and the status tracker judging
 * health by the one outcome classification.
 */
import { status } from "@grpc/grpc-js";
import pino from "pino";
import { SET_KEY, SharedExecutorSet } from "../../src/cache/executor-set";
import { MemoryStore } from "../../src/cache/memory-store";
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

describe("SharedExecutorSet (the membership replicas share)", () => {
  /** The in-process store, shared as Redis is (an in-memory fake of our own CacheStore). */
  class SharedMemoryStore extends MemoryStore {
    override readonly shared = true as unknown as false;
  }

  test("entries nobody refreshed within forgetAfterMs are deleted from the shared hash; fresh ones stay", async () => {
    let t = 1_000_000;
    const now = (): number => t;
    const store = new SharedMemoryStore(1024 * 1024);
    const log = pino({ level: "silent" });
    const reg = new ExecutorRegistry(new AllowList(["10.0.0.0/8"]), 10, {}, now);
    reg.addSeed("10.0.0.1:8184", KEY(1));
    reg.observe("10.0.0.1:8184", "answered");
    const set = new SharedExecutorSet(reg, store, 0, log, now, 30_000, 600_000);
    // Another replica's entries: one it heard from a minute ago, one over forgetAfterMs ago.
    await store.hashMerge(
      SET_KEY,
      { "10.0.0.2:8184": `;${t - 60_000}`, "10.0.0.3:8184": `;${t - 700_000}` },
      86_400_000,
    );
    await set.pull();
    await set.publish();
    const got = await store.hashGetAll(SET_KEY);
    expect(got.ok && Object.keys(got.value).sort()).toEqual(["10.0.0.1:8184", "10.0.0.2:8184"]);
    // Neither old entry was read into the set (both past departAfterMs).
    expect(reg.list().map((e) => e.address)).toEqual(["10.0.0.1:8184"]);
    // Later, the minute-old one passes forgetAfterMs too, while this replica's own member stays fresh.
    t += 600_000;
    reg.observe("10.0.0.1:8184", "answered");
    await set.pull();
    await set.publish();
    const later = await store.hashGetAll(SET_KEY);
    expect(later.ok && Object.keys(later.value)).toEqual(["10.0.0.1:8184"]);
  });
});
