/** Default deadlines for clients that send none (src/config/deadlines.ts, README "Deadlines"). */
import { parseConfig } from "../../src/config/load";
import { ConfigError } from "../../src/config/load";
import { defaultDeadlines, fanoutBoundMs, REPLY_MARGIN_MS } from "../../src/config/deadlines";

describe("default deadlines", () => {
  test("derived: a fan-out's own bound, and GetPredictResult two loads plus two whole predict.callTimeoutMs", () => {
    const c = parseConfig({});
    const atOnce = c.executors.concurrency > 0 ? c.executors.concurrency : c.executors.maxUpstreamCalls;
    const fanout =
      (c.executors.discoveryRounds + 1) * Math.ceil(c.executors.maxExecutors / atOnce) * c.executors.callTimeoutMs +
      REPLY_MARGIN_MS;
    expect(fanoutBoundMs(c.executors)).toBe(fanout);
    expect(defaultDeadlines(c)).toEqual({
      defaultDeadlineMs: fanout,
      predictDeadlineMs: 2 * fanout + 2 * c.predict.callTimeoutMs + REPLY_MARGIN_MS,
    });
    // The old fixed 10 s was shorter than one prediction call's own timeout (30 s).
    expect(defaultDeadlines(c).predictDeadlineMs).toBeGreaterThan(c.predict.callTimeoutMs);
  });

  test("set values win; GetPredictResult's is never below predict.callTimeoutMs", () => {
    const c = parseConfig({ api: { defaultDeadlineMs: 800 }, predict: { callTimeoutMs: 4000 } });
    expect(defaultDeadlines(c)).toEqual({ defaultDeadlineMs: 800, predictDeadlineMs: 1600 + 8000 + REPLY_MARGIN_MS });
    expect(defaultDeadlines(parseConfig({ predict: { defaultDeadlineMs: 45_000 } })).predictDeadlineMs).toBe(45_000);
    expect(() => parseConfig({ predict: { callTimeoutMs: 30_000, defaultDeadlineMs: 10_000 } })).toThrow(ConfigError);
    expect(() => parseConfig({ predict: { callTimeoutMs: 30_000, defaultDeadlineMs: 10_000 } })).toThrow(
      /predict.defaultDeadlineMs/,
    );
  });
});
