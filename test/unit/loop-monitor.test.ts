/** The event-loop stall clock: a blocked loop shows as stall and lag; an idle one does not. */
import { LoopMonitor, NO_STALL } from "../../src/core/loop-monitor";

const block = (ms: number): void => {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: the loop cannot run
  }
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("LoopMonitor", () => {
  let m: LoopMonitor | undefined;
  afterEach(() => m?.close());

  test("a blocked loop counts as stall while blocked, and after the next tick", async () => {
    m = new LoopMonitor(10);
    const before = m.stalledMs();
    block(150);
    // Not ticked yet: the pending delay is part of the reading.
    expect(m.stalledMs() - before).toBeGreaterThanOrEqual(100);
    await sleep(30);
    expect(m.stalledMs() - before).toBeGreaterThanOrEqual(100);
    expect(m.lagMs()).toBeGreaterThan(0);
  });

  test("stalledMs is monotonic", async () => {
    m = new LoopMonitor(5);
    let last = m.stalledMs();
    for (let i = 0; i < 10; i++) {
      if (i % 3 === 0) block(20);
      await sleep(3);
      const now = m.stalledMs();
      expect(now).toBeGreaterThanOrEqual(last);
      last = now;
    }
  });

  test("one pause counts a tenth in the lag and fades", async () => {
    m = new LoopMonitor(10);
    await sleep(25);
    block(200);
    await sleep(15); // one tick sees the overrun
    const peak = m.lagMs();
    expect(peak).toBeGreaterThan(5);
    expect(peak).toBeLessThan(200 * 0.5); // a moving average, not the pause itself
    await sleep(300);
    expect(m.lagMs()).toBeLessThan(peak);
  });

  test("close stops the ticks (the lag no longer moves)", async () => {
    m = new LoopMonitor(5);
    block(50);
    await sleep(10);
    m.close();
    const lag = m.lagMs();
    await sleep(40);
    expect(m.lagMs()).toBe(lag);
  });

  test("NO_STALL never stalls", () => {
    block(20);
    expect(NO_STALL.stalledMs()).toBe(0);
    expect(NO_STALL.lagMs()).toBe(0);
  });
});
