/** Protobuf JSON request parsing, the error envelope mapping and the cache ratio, as pure functions. */
import { status as Status } from "@grpc/grpc-js";
import fc from "fast-check";
import { GatewayError as HttpApiError, httpStatusOf, jsonCodeOf as errorCode } from "../../src/core/errors";
import { hitRatio } from "../../src/http/status-sources";
import { parseGetBody, parseListBody, parsePredictBody } from "../../src/http/task-json";

const NOW = 1_800_000_000_000_000_000n;
const now = (): bigint => NOW;

function fails(fn: () => unknown): HttpApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpApiError) return err;
    throw err;
  }
  throw new Error("expected an HttpApiError");
}

describe("parseListBody", () => {
  test("every int64 in range round-trips through its decimal string exactly", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), (n) => {
        const q = parseListBody({ timeStart: n.toString(), timeEnd: n.toString(), limit: n.toString() }, now);
        return q.timeStart === n && q.timeEnd === n && q.limit === n;
      }),
    );
  });

  test("a missing timeEnd means now (as the stock client sends); an explicit 0 stays 0", () => {
    expect(parseListBody({}, now).timeEnd).toBe(NOW);
    expect(parseListBody({ timeEnd: "0" }, now).timeEnd).toBe(0n);
    expect(parseListBody({ timeEnd: null }, now).timeEnd).toBe(NOW);
  });

  test("pubKey: base64, URL-safe base64 and 128 hex characters decode to the same bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), (raw) => {
        const key = Buffer.from(raw);
        const a = parseListBody({ pubKey: key.toString("base64") }, now).pubKey;
        const b = parseListBody({ pubKey: key.toString("base64url") }, now).pubKey;
        const c = parseListBody({ pubKey: key.toString("hex") }, now).pubKey;
        return a.equals(key) && b.equals(key) && c.equals(key);
      }),
    );
  });

  test.each([
    [{ limit: "1e3" }, "limit"],
    [{ limit: 2 ** 53 }, "limit"],
    [{ timeStart: true }, "timeStart"],
    [{ timeEnd: "-9223372036854775809" }, "timeEnd"],
    [{ pubKey: 5 }, "pubKey"],
    [{ pubKey: "a" }, "pubKey"],
    [{ status: ["Ready"] }, "status"],
    [{ extra: 1 }, "extra"],
  ])("%j is INVALID_ARGUMENT naming %s", (body, field) => {
    const err = fails(() => parseListBody(body as Record<string, unknown>, now));
    expect(err.code).toBe(Status.INVALID_ARGUMENT);
    expect(err.message.startsWith(`${field}: `)).toBe(true);
  });
});

describe("parseGetBody / parsePredictBody", () => {
  test("take exactly their message's fields", () => {
    expect(parseGetBody({ taskID: "t-1" })).toEqual({ taskID: "t-1" });
    expect(fails(() => parseGetBody({ taskId: "t-1" })).message).toMatch(/^taskId: unknown field of GetTaskRequest/);
    const sig = Buffer.alloc(64, 7);
    const key = Buffer.alloc(64, 9);
    const req = parsePredictBody({ pubKey: key.toString("hex"), taskID: "p", signature: sig.toString("base64") });
    expect(req.pubKey.equals(key) && req.signature.equals(sig) && req.taskID === "p").toBe(true);
    // A signature is not a key: 128 hex characters are read as base64 there (and then fail length checks upstream).
    const hexSig = parsePredictBody({ signature: sig.toString("hex") }).signature;
    expect(hexSig.length).toBe(96);
  });
});

describe("error envelope", () => {
  test("Executor codes where one exists, status names otherwise; grpc-gateway HTTP statuses", () => {
    expect([errorCode(Status.NOT_FOUND), httpStatusOf(Status.NOT_FOUND)]).toEqual(["XDAT0004", 404]);
    expect([errorCode(Status.INVALID_ARGUMENT), httpStatusOf(Status.INVALID_ARGUMENT)]).toEqual(["XDAT0002", 400]);
    expect([errorCode(Status.UNAUTHENTICATED), httpStatusOf(Status.UNAUTHENTICATED)]).toEqual(["XDAT0008", 401]);
    expect([errorCode(Status.PERMISSION_DENIED), httpStatusOf(Status.PERMISSION_DENIED)]).toEqual(["XDAT0006", 403]);
    expect([errorCode(Status.UNAVAILABLE), httpStatusOf(Status.UNAVAILABLE)]).toEqual(["UNAVAILABLE", 503]);
    expect([errorCode(Status.DEADLINE_EXCEEDED), httpStatusOf(Status.DEADLINE_EXCEEDED)]).toEqual([
      "DEADLINE_EXCEEDED",
      504,
    ]);
    expect(httpStatusOf(Status.UNKNOWN)).toBe(500);
  });

  test("cache hit ratio counts stale answers as hits and is null without data", () => {
    expect(hitRatio(undefined)).toBeNull();
    expect(hitRatio({ hits: 0, misses: 0 })).toBeNull();
    expect(hitRatio({ hits: 3, misses: 1 })).toBe(0.75);
    expect(hitRatio({ hits: 1, misses: 2, stale: 1 })).toBe(0.5);
  });
});
