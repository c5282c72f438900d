/**
 * ExecutorStatusTracker (src/upstream/executor-status.ts): what it remembers is bounded by
 * the Executor set, whether or not anybody reads /v1/executors.
 */
import { status } from "@grpc/grpc-js";
import { ExecutorClients } from "../../src/upstream/executor-client";
import { AllowList } from "../../src/upstream/allowlist";
import { ExecutorHealth } from "../../src/upstream/health";
import { ExecutorStatusTracker } from "../../src/upstream/executor-status";
import { ExecutorRegistry } from "../../src/upstream/registry";
import type { OutcomeEvent } from "../../src/upstream/outcome";
import { MemoryTransport } from "../helpers/memory-transport";

test("an Executor that left the set is forgotten at once, without a status read", () => {
  let t = 1_000_000;
  const registry = new ExecutorRegistry(new AllowList(["10.0.0.0/8"]), 1000, { departAfterMs: 100 }, () => t);
  const health = new ExecutorHealth({ failures: 5, halfOpenAfterMs: 1000, maxHalfOpenAfterMs: 1000 });
  const clients = new ExecutorClients(new MemoryTransport(), health, {
    callTimeoutMs: { listTask: 1000, getTaskById: 1000, getPredictResult: 1000 },
    maxUpstreamCalls: 8,
  });
  const tracker = new ExecutorStatusTracker(registry, clients, { callTimeoutMs: 1000, probeIntervalMs: 1000 });
  clients.outcomes.subscribe((o) => registry.observe(o.address, o.kind === "unreachable" ? "failed" : "answered"));
  const failed = (address: string): OutcomeEvent => ({
    address,
    method: "listTask",
    code: status.UNAVAILABLE,
    wireCode: status.UNAVAILABLE,
    message: "connection refused",
    sent: true,
    durationMs: 1,
    kind: "unreachable",
  });
  // Candidates come and go (a hostile Executor's tasks can name a new one every few seconds).
  for (let i = 1; i <= 50; i++) {
    const a = `10.0.${i}.1:8184`;
    registry.offer(a, undefined);
    clients.outcomes.publish(failed(a));
    t += 100;
    clients.outcomes.publish(failed(a));
    expect(registry.get(a)).toBeUndefined();
  }
  expect(tracker.size).toBe(0);
});
