import { KeyRateLimiter } from "../../src/auth/rate-limit";

describe("KeyRateLimiter", () => {
  test("a burst of perMinute, then one more every 60/perMinute seconds", () => {
    const rl = new KeyRateLimiter(6);
    const t0 = 1_000_000;
    const taken = Array.from({ length: 8 }, () => rl.take("a", t0));
    expect(taken.filter(Boolean).length).toBe(6);
    expect(taken.slice(6)).toEqual([false, false]);
    expect(rl.take("a", t0 + 9_999)).toBe(false);
    expect(rl.take("a", t0 + 10_000)).toBe(true);
    expect(rl.take("a", t0 + 10_001)).toBe(false);
    // A full minute refills the bucket, never beyond its size.
    const later = Array.from({ length: 8 }, () => rl.take("a", t0 + 200_000));
    expect(later.filter(Boolean).length).toBe(6);
  });

  test("keys have their own buckets; the map stays bounded", () => {
    const rl = new KeyRateLimiter(1, 100);
    expect(rl.take("a", 0)).toBe(true);
    expect(rl.take("a", 0)).toBe(false);
    expect(rl.take("b", 0)).toBe(true);
    for (let i = 0; i < 1000; i++) rl.take(`k${i}`, 0);
    expect(rl.size).toBeLessThanOrEqual(100);
  });
});
