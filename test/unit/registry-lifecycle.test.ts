/**
 * The Executor set's lifecycle (issue 14): candidates until they answer once, departure
 * after failing without a break, comeback, forgetting, the per-source discovery budget;
 * and the two small guards next to it (the /metrics rendering, admission's deadline check).
 */
import { status as Status } from "@grpc/grpc-js";
import { CallAdmission } from "../../src/api/admission";
import { RenderedMetrics } from "../../src/observability/routes";
import { AllowList } from "../../src/upstream/allowlist";
import { ExecutorRegistry, type ExecutorSetChange } from "../../src/upstream/registry";
import { decodeTaskView } from "../../src/wire/task-view";
import { KEY, task, taskReply } from "../helpers/memory-transport";

function rig(life: Partial<ConstructorParameters<typeof ExecutorRegistry>[2]> = {}) {
  let t = 1_000_000;
  const reg = new ExecutorRegistry(new AllowList(["10.0.0.0/8"]), 100, { departAfterMs: 1000, ...life }, () => t);
  const seen: ExecutorSetChange["kind"][] = [];
  reg.changes.subscribe((c) => seen.push(c.kind));
  return { reg, seen, advance: (ms: number) => (t += ms) };
}

describe("ExecutorRegistry lifecycle", () => {
  test("a discovered address is a candidate until it answers; then a member", () => {
    const { reg, seen } = rig();
    reg.offer("10.0.0.2:1", KEY(2));
    expect(reg.get("10.0.0.2:1")?.membership).toBe("candidate");
    expect(reg.members()).toEqual([]);
    reg.observe("10.0.0.2:1", "answered");
    expect(reg.get("10.0.0.2:1")?.membership).toBe("member");
    expect(seen).toEqual(["added", "joined"]);
  });

  test("a member failing without a break for departAfterMs departs; a seed stays, and comes back on its answer", () => {
    const { reg, seen, advance } = rig();
    reg.addSeed("10.0.0.1:1");
    reg.observe("10.0.0.1:1", "failed");
    advance(600);
    reg.observe("10.0.0.1:1", "answered"); // a break: the run starts again
    reg.observe("10.0.0.1:1", "failed");
    advance(600);
    reg.observe("10.0.0.1:1", "failed");
    expect(reg.get("10.0.0.1:1")?.membership).toBe("member");
    advance(500);
    reg.observe("10.0.0.1:1", "neutral"); // the gateway's own shortfall says nothing
    expect(reg.get("10.0.0.1:1")?.membership).toBe("member");
    reg.observe("10.0.0.1:1", "failed");
    expect(reg.get("10.0.0.1:1")?.membership).toBe("departed");
    expect(reg.counts()).toEqual({ members: 0, candidates: 0, departed: 1 });
    reg.sweep();
    expect(reg.get("10.0.0.1:1")).toBeDefined(); // seeds are never forgotten
    reg.observe("10.0.0.1:1", "answered");
    expect(reg.get("10.0.0.1:1")?.membership).toBe("member");
    expect(seen).toEqual(["added", "departed", "joined"]);
  });

  test("a candidate that never answers is forgotten; a departed discovered one nobody names is too", () => {
    const { reg, advance } = rig({ forgetAfterMs: 5000 });
    reg.offer("10.0.0.3:1", undefined);
    reg.observe("10.0.0.3:1", "failed");
    advance(1000);
    reg.observe("10.0.0.3:1", "failed");
    expect(reg.get("10.0.0.3:1")).toBeUndefined();

    reg.offer("10.0.0.4:1", undefined);
    reg.observe("10.0.0.4:1", "answered");
    reg.observe("10.0.0.4:1", "failed");
    advance(1000);
    reg.observe("10.0.0.4:1", "failed");
    expect(reg.get("10.0.0.4:1")?.membership).toBe("departed");
    advance(4000);
    reg.offer("10.0.0.4:1", undefined); // still named by discovery: kept
    advance(4000);
    reg.sweep();
    expect(reg.get("10.0.0.4:1")?.membership).toBe("departed");
    advance(1000);
    reg.sweep();
    expect(reg.get("10.0.0.4:1")).toBeUndefined();
  });

  test("one source's replies add at most discoveryBudget candidates per interval", () => {
    const { reg, advance } = rig({ discoveryBudget: 3, discoveryBudgetIntervalMs: 60_000 });
    const named = decodeTaskView(
      taskReply(
        task("t", { executors: Array.from({ length: 10 }, (_, i) => ({ key: i + 1, address: `10.0.1.${i + 1}:1` })) }),
      ),
    );
    const out = reg.discoverFrom([named], "10.0.0.9:1");
    expect(out.added).toHaveLength(3);
    expect(out.refused.budget).toBe(7);
    // Another source has its own budget; the same source again after the interval.
    expect(reg.discoverFrom([named], "10.0.0.8:1").added).toHaveLength(3);
    expect(reg.discoverFrom([named], "10.0.0.9:1").added).toHaveLength(0);
    advance(60_000);
    expect(reg.discoverFrom([named], "10.0.0.9:1").added).toHaveLength(3);
  });

  test("another replica's Executors join as members (it vouches for them)", () => {
    const { reg } = rig();
    reg.offer("10.0.0.5:1", KEY(5), "shared");
    expect(reg.get("10.0.0.5:1")?.membership).toBe("member");
  });

  test("a refused address: a candidate refused without a break goes, a member stays", () => {
    const { reg, seen, advance } = rig();
    reg.addSeed("10.0.0.1:1");
    reg.offer("10.0.0.2:1", KEY(2));
    reg.observe("10.0.0.1:1", "refused");
    reg.observe("10.0.0.2:1", "refused");
    advance(1000);
    reg.observe("10.0.0.1:1", "refused");
    reg.observe("10.0.0.2:1", "refused");
    expect(reg.get("10.0.0.2:1")).toBeUndefined();
    expect(reg.get("10.0.0.1:1")?.membership).toBe("member");
    expect(seen.filter((k) => k === "removed")).toHaveLength(1);
  });
});

test("/metrics renders once per interval, one rendering at a time", async () => {
  let t = 0;
  let renders = 0;
  let release!: () => void;
  const m = new RenderedMetrics(
    () => {
      renders++;
      return new Promise((resolve) => (release = () => resolve({ contentType: "text/plain", body: String(renders) })));
    },
    1000,
    () => t,
  );
  const a = m.get();
  const b = m.get();
  release();
  expect((await a).body).toBe("1");
  expect((await b).body).toBe("1");
  t = 999;
  expect((await m.get()).body).toBe("1");
  t = 1001;
  const c = m.get();
  release();
  expect((await c).body).toBe("2");
  expect(renders).toBe(2);
});

test("admission refuses a call whose deadline is shorter than its method takes now, with a retry hint", () => {
  const a = new CallAdmission({ maxConcurrentCalls: 10, maxConcurrentCallsPerConnection: 10 });
  for (let i = 0; i < 19; i++) a.observe("ListTask", 100);
  // Not warm yet: admitted.
  a.enter("p", { method: "ListTask", remainingMs: 10 })();
  a.observe("ListTask", 100);
  expect(a.expectedMs("ListTask")).toBeCloseTo(100);
  a.enter("p", { method: "ListTask", remainingMs: 150 })();
  try {
    a.enter("p", { method: "ListTask", remainingMs: 50 });
    throw new Error("admitted");
  } catch (err) {
    expect((err as { code: Status }).code).toBe(Status.RESOURCE_EXHAUSTED);
    expect((err as { retryAfterMs?: number }).retryAfterMs).toBe(250);
  }
  expect(a.active).toBe(0);
});
