/** The neutral core: the one notification style (Topic) and the one error catalog. */
import { status } from "@grpc/grpc-js";
import {
  EXECUTOR_CODES,
  GatewayError,
  httpStatusOf,
  jsonCodeOf,
  STATUS_CATALOG,
  toGatewayError,
  UPSTREAM_CODE_STATUS,
} from "../../src/core/errors";
import { FanoutReport } from "../../src/core/report";
import { Topic } from "../../src/core/topic";
import { statusCaseWarning } from "../../src/http/task-routes";

describe("Topic", () => {
  test("subscribers get events in order; unsubscribing stops them; one throwing does not stop the rest", () => {
    const errors: unknown[] = [];
    const t = new Topic<number>((e) => errors.push(e));
    const got: string[] = [];
    const off = t.subscribe((n) => got.push(`a${n}`));
    t.subscribe(() => {
      throw new Error("x");
    });
    t.subscribe((n) => got.push(`c${n}`));
    t.publish(1);
    off();
    t.publish(2);
    expect(got).toEqual(["a1", "c1", "c2"]);
    expect(errors).toHaveLength(2);
    expect(t.size).toBe(2);
  });
});

describe("the status catalog", () => {
  test("every gRPC status has one HTTP status and one JSON code", () => {
    const codes = Object.values(status).filter((v) => typeof v === "number");
    expect(STATUS_CATALOG.size).toBe(codes.length);
    expect([jsonCodeOf(status.OK), httpStatusOf(status.OK)]).toEqual(["0", 200]);
    expect([jsonCodeOf(status.RESOURCE_EXHAUSTED), httpStatusOf(status.RESOURCE_EXHAUSTED)]).toEqual([
      "RESOURCE_EXHAUSTED",
      429,
    ]);
    expect(httpStatusOf(status.DATA_LOSS)).toBe(500);
  });

  test("every Executor code family maps to its meaning's status", () => {
    for (const e of EXECUTOR_CODES) {
      expect(UPSTREAM_CODE_STATUS.get(e.v1!)).toBe(e.status);
      expect(UPSTREAM_CODE_STATUS.get(e.v2!)).toBe(e.status);
    }
    expect(UPSTREAM_CODE_STATUS.get("PX0004")).toBe(status.NOT_FOUND);
  });

  test("GatewayError carries a report or options; anything else becomes INTERNAL", () => {
    const r = new FanoutReport();
    expect(new GatewayError(status.UNAVAILABLE, "x", r).report).toBe(r);
    expect(new GatewayError(status.INVALID_ARGUMENT, "x", { httpStatus: 413 }).httpStatus).toBe(413);
    expect(toGatewayError(new Error("secret"))).toMatchObject({ unexpected: true, error: { code: status.INTERNAL } });
  });
});

describe("statusCaseWarning", () => {
  test.each([
    ["finished", /did you mean "Finished"/],
    ["PROCESSING", /did you mean "Processing"/],
    ["Finished", undefined],
    ["", undefined],
    ["Paused", undefined],
  ])("%s", (s, want) => {
    const w = statusCaseWarning(s);
    if (want === undefined) expect(w).toBeUndefined();
    else expect(w).toMatch(want);
  });
});
