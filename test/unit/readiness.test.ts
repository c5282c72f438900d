/** What "ready" means (src/observability/health.ts): bound, not shutting down, Executors known. */
import { GatewayHealth } from "../../src/observability/health";

test("ready only while serving with a non-empty Executor set", () => {
  let known = 0;
  const h = new GatewayHealth(() => ({ known, healthy: 0 }));
  expect(h.readiness().ready).toBe(false);
  h.markServing();
  expect(h.readiness()).toEqual({ ready: false, serving: true, executors: { known: 0, healthy: 0 } });
  known = 2;
  // Executors answering is deliberately not part of readiness.
  expect(h.refresh().ready).toBe(true);
  h.markShuttingDown();
  expect(h.readiness()).toMatchObject({ ready: false, serving: false });
});
