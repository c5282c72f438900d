/**
 * Load shedding at admission (issue 14, item 3): the sustained-lag share
 * (`api.shedLagMs`). The loop's lag is injected and time is faked: these are rules, not
 * speeds.
 */
import { status as Status } from "@grpc/grpc-js";
import { CallAdmission, DEADLINE_PROBE_MS } from "../../src/api/admission";
import { GatewayError } from "../../src/core/errors";

function outcome(a: CallAdmission): "admitted" | { code: number; details: string; retry?: number } {
  try {
    a.enter("peer")();
    return "admitted";
  } catch (err) {
    const e = err as GatewayError;
    return { code: e.code, details: e.message, retry: e.retryAfterMs };
  }
}

const limits = { maxConcurrentCalls: 100, maxConcurrentCallsPerConnection: 100 };

afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

describe("sustained-lag share (api.shedLagMs)", () => {
  const admissions: CallAdmission[] = [];
  afterEach(() => admissions.splice(0).forEach((a) => a.close()));
  const make = (lag: () => number): CallAdmission => {
    const a = new CallAdmission({ ...limits, shedLagMs: 100, lagMs: lag });
    admissions.push(a);
    return a;
  };

  test("a quiet spell is read as quiet: a lag reading at the first call after it does not refuse that call", () => {
    jest.useFakeTimers();
    jest.spyOn(Math, "random").mockReturnValue(0.01);
    let lag = 5;
    const a = make(() => lag);
    jest.advanceTimersByTime(5000);
    lag = 400;
    expect(outcome(a)).toBe("admitted");
  });

  test("the share grows while the lag stays over the target, and drops to none once it is under half the target", () => {
    jest.useFakeTimers();
    jest.spyOn(Math, "random").mockReturnValue(0.3);
    let lag = 400;
    const a = make(() => lag);
    // Five periods over the target: a share of one half refuses this call.
    jest.advanceTimersByTime(250);
    const r = outcome(a);
    expect(r).toMatchObject({ code: Status.RESOURCE_EXHAUSTED, retry: 250 });
    expect((r as { details: string }).details).toMatch(/overloaded.*api\.shedLagMs = 100/);
    lag = 20;
    jest.advanceTimersByTime(50);
    expect(outcome(a)).toBe("admitted");
  });
});

describe("deadline rule", () => {
  test("samples from calls that ran out of their deadline refuse calls with less time; one call a second still goes through", () => {
    let now = 1_000;
    jest.spyOn(performance, "now").mockImplementation(() => now);
    const a = new CallAdmission(limits);
    const enter = (remainingMs: number): string => {
      try {
        a.enter("peer", { method: "ListTask", remainingMs })();
        return "admitted";
      } catch (err) {
        return (err as GatewayError).message;
      }
    };
    // Calls that ran out of their 2.1 s deadlines (the pipeline reports them too).
    for (let i = 0; i < 20; i++) a.observe("ListTask", 2100);
    expect(enter(2000)).toMatch(/takes about 2100 ms now; 2000 ms left in the deadline is not enough/);
    expect(enter(5000)).toBe("admitted");
    // Nothing seen for DEADLINE_PROBE_MS: one call goes through, the next is refused again.
    now += DEADLINE_PROBE_MS;
    expect(enter(1500)).toBe("admitted");
    expect(enter(1500)).toMatch(/not enough/);
    // The probe came back fast: the average follows, and calls are taken on again.
    for (let i = 0; i < 10; i++) a.observe("ListTask", 10);
    expect(enter(1500)).toBe("admitted");
  });
});
