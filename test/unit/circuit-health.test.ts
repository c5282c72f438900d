/**
 * ExecutorHealth (src/upstream/health.ts): what each verdict does to an Executor's
 * circuit, the probe of an open circuit included.
 */
import { ExecutorHealth, CIRCUIT_OPEN, type Verdict } from "../../src/upstream/health";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function circuits(): ExecutorHealth {
  return new ExecutorHealth({ failures: 1, halfOpenAfterMs: 30, maxHalfOpenAfterMs: 30 });
}

const once = (h: ExecutorHealth, v: Verdict): Promise<unknown> =>
  h.run(
    "10.0.0.1:8184",
    () => Promise.resolve(v),
    (x) => x,
  );

describe("ExecutorHealth", () => {
  test("a neutral probe of an open circuit leaves it open: the next call probes again", async () => {
    const h = circuits();
    const states: string[] = [];
    h.changes.subscribe((c) => states.push(c.state));
    await once(h, "failure");
    expect(h.state("10.0.0.1:8184").state).toBe("open");
    expect(await once(h, "success")).toBe(CIRCUIT_OPEN);
    await sleep(45);
    // The gateway's own shortfall (e.g. no upstream slot) during the probe says nothing about the Executor.
    expect(await once(h, "neutral")).toBe("neutral");
    expect(h.state("10.0.0.1:8184").state).toBe("open");
    // Reported as it was: open, probing, open again (never "closed").
    expect(states).toEqual(["open", "half-open", "open"]);
    // The back-off had elapsed: the next call is the probe (not skipped), and a failure keeps it open.
    let ran = 0;
    await h.run(
      "10.0.0.1:8184",
      () => Promise.resolve((ran++, "failure" as Verdict)),
      (x) => x,
    );
    expect(ran).toBe(1);
    expect(h.state("10.0.0.1:8184").state).toBe("open");
    // Still open right after: calls are skipped, not sent to a failing Executor.
    expect(await once(h, "success")).toBe(CIRCUIT_OPEN);
  });

  test("a neutral call on a closed circuit changes nothing; a success probe closes an open one", async () => {
    const h = circuits();
    await once(h, "neutral");
    expect(h.state("10.0.0.1:8184").state).toBe("closed");
    await once(h, "failure");
    await sleep(45);
    expect(await once(h, "success")).toBe("success");
    expect(h.state("10.0.0.1:8184").state).toBe("closed");
  });
});
