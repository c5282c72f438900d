/**
 * The adaptive streams-per-connection limit (issue 14, item 3; src/transport/stream-limit.ts):
 * AIMD on the intake's standing delay, between MIN_STREAMS and the configured setting.
 */
import { AdaptiveStreamLimit, CALM_INTERVALS, MIN_STREAMS } from "../../src/transport/stream-limit";

describe("AdaptiveStreamLimit", () => {
  test("starts at the configured setting", () => {
    expect(new AdaptiveStreamLimit(8, 5).current).toBe(8);
  });

  test("a standing delay over the target lowers it by a quarter, at least by one, down to MIN_STREAMS", () => {
    const l = new AdaptiveStreamLimit(100, 5);
    const seen: number[] = [];
    for (let i = 0; i < 20; i++) seen.push(l.next(6));
    expect(seen.slice(0, 4)).toEqual([75, 56, 42, 31]);
    // Near the floor a quarter rounds to nothing: one at a time.
    expect(seen).toContain(3);
    expect(seen[seen.length - 1]).toBe(MIN_STREAMS);
    expect(Math.min(...seen)).toBe(MIN_STREAMS);
  });

  test("after CALM_INTERVALS under half the target it rises by one an interval, up to the setting", () => {
    const l = new AdaptiveStreamLimit(8, 5);
    for (let i = 0; i < 10; i++) l.next(50);
    expect(l.current).toBe(MIN_STREAMS);
    // The interval after a fall is calm whatever the load (the clients hold back): no rise yet.
    for (let i = 1; i < CALM_INTERVALS; i++) expect(l.next(2.4)).toBe(MIN_STREAMS);
    expect(l.next(2.4)).toBe(MIN_STREAMS + 1);
    expect(l.next(0)).toBe(MIN_STREAMS + 2);
    for (let i = 0; i < 20; i++) l.next(0);
    expect(l.current).toBe(8);
  });

  test("a standing queue or a delay near the target breaks the calm spell", () => {
    const l = new AdaptiveStreamLimit(8, 10);
    for (let i = 0; i < 3; i++) l.next(20);
    const low = l.current;
    for (let i = 1; i < CALM_INTERVALS; i++) l.next(0);
    l.next(7); // between half the target and the target: holds, and the spell starts again
    for (let i = 1; i < CALM_INTERVALS; i++) expect(l.next(0)).toBe(low);
    expect(l.next(0)).toBe(low + 1);
  });

  test("between half the target and the target it holds", () => {
    const l = new AdaptiveStreamLimit(8, 10);
    l.next(11);
    expect(l.current).toBe(6);
    for (let i = 0; i < 5; i++) expect(l.next(5)).toBe(6);
    expect(l.next(10)).toBe(6);
  });

  test("a setting under MIN_STREAMS is never raised or lowered past itself", () => {
    const l = new AdaptiveStreamLimit(1, 5);
    expect(l.next(100)).toBe(1);
    expect(l.next(0)).toBe(1);
  });

  test("bad settings are refused", () => {
    expect(() => new AdaptiveStreamLimit(0, 5)).toThrow(/max/);
    expect(() => new AdaptiveStreamLimit(2.5, 5)).toThrow(/max/);
    expect(() => new AdaptiveStreamLimit(8, 0)).toThrow(/targetMs/);
  });
});
