import { Metadata, status as Status } from "@grpc/grpc-js";
import fc from "fast-check";
import {
  ApiError,
  listMatchesNothing,
  validateGetRequest,
  validateListRequest,
  validateTaskId,
} from "../../src/api/validate";
import { ListTaskRequest } from "../../src/gen/task/task";
import { classifyUpstreamError, isNotFound } from "../../src/upstream/errors";
import { decodeTaskList, decodeTaskView, encodeTaskList, WireError } from "../../src/wire/task-view";
import { wire } from "../helpers/fixtures";

function apiError(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error("expected an ApiError");
}

const listReq = (over: Partial<ListTaskRequest>): ListTaskRequest =>
  ListTaskRequest.fromPartial({ pubKey: Buffer.alloc(64, 1), timeEnd: 10n, limit: 100n, ...over });

describe("request validation: what a v2.x Executor accepts (spec §4, §5)", () => {
  test("ListTask: accepted requests become the query unchanged", () => {
    expect(validateListRequest(listReq({ status: "Finished", timeStart: 3n }))).toEqual({
      pubKey: Buffer.alloc(64, 1),
      status: "Finished",
      timeStart: 3n,
      timeEnd: 10n,
      limit: 100n,
    });
    expect(validateListRequest(listReq({ pubKey: Buffer.alloc(0), limit: 0n })).pubKey.length).toBe(0);
    expect(validateListRequest(listReq({ limit: 1000n })).limit).toBe(1000n);
  });

  test.each([
    ["limit -1 (no cap)", { limit: -1n }, { limit: 0n }],
    ["limit min int64 (no cap)", { limit: -(2n ** 63n) }, { limit: 0n }],
    ["limit above 1000", { limit: 1001n }, { limit: 1001n }],
    ["limit max int64", { limit: 9_223_372_036_854_775_807n }, { limit: 9_223_372_036_854_775_807n }],
    ["timeEnd 0 (no upper bound)", { timeEnd: 0n }, { timeEnd: 0n }],
    ["timeEnd negative (no upper bound)", { timeEnd: -5n }, { timeEnd: 0n }],
    ["a 63-byte key", { pubKey: Buffer.alloc(63) }, { pubKey: Buffer.alloc(63) }],
    ["a 65-byte key", { pubKey: Buffer.alloc(65) }, { pubKey: Buffer.alloc(65) }],
    ["a 65-char status", { status: "x".repeat(65) }, { status: "x".repeat(65) }],
  ])("ListTask accepts %s, as an Executor does", (_name, over, want) => {
    expect(validateListRequest(listReq(over))).toMatchObject(want);
  });

  test("a key of the wrong length or an overlong status matches nothing; empty and 64-byte keys do", () => {
    const q = (over: Partial<ListTaskRequest>) => validateListRequest(listReq(over));
    expect(listMatchesNothing(q({ pubKey: Buffer.alloc(63) }))).toBe(true);
    expect(listMatchesNothing(q({ pubKey: Buffer.alloc(65) }))).toBe(true);
    expect(listMatchesNothing(q({ pubKey: Buffer.alloc(1) }))).toBe(true);
    expect(listMatchesNothing(q({ status: "x".repeat(65) }))).toBe(true);
    expect(listMatchesNothing(q({ pubKey: Buffer.alloc(0) }))).toBe(false);
    expect(listMatchesNothing(q({ pubKey: Buffer.alloc(64, 7), status: "x".repeat(64) }))).toBe(false);
  });

  test("taskID: empty or longer than any kept ID is NOT_FOUND, as on an Executor", () => {
    for (const fn of [validateGetRequest, (r: { taskID: string }) => validateTaskId(r.taskID)]) {
      const empty = apiError(() => fn({ taskID: "" } as never));
      expect(empty.code).toBe(Status.NOT_FOUND);
      expect(empty.message).toMatch(/^task not found: taskID is empty/);
      expect(apiError(() => fn({ taskID: "x".repeat(129) } as never)).code).toBe(Status.NOT_FOUND);
      expect(fn({ taskID: "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41" } as never)).toBe(
        "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41",
      );
      expect(fn({ taskID: "задача-é-💥" } as never)).toBe("задача-é-💥");
    }
  });
});

function serviceError(code: Status, details: string) {
  return Object.assign(new Error(details), { code, details, metadata: new Metadata() });
}

describe("upstream error mapping (spec §7): both code families, by code", () => {
  test.each([
    ["10001", Status.INTERNAL],
    ["10002", Status.INVALID_ARGUMENT],
    ["10004", Status.NOT_FOUND],
    ["10006", Status.PERMISSION_DENIED],
    ["10007", Status.ALREADY_EXISTS],
    ["10008", Status.UNAUTHENTICATED],
    ["10011", Status.UNAVAILABLE],
    ["XDAT0004", Status.NOT_FOUND],
    ["PX0004", Status.NOT_FOUND],
    ["XDAT0002", Status.INVALID_ARGUMENT],
    ["PX0002", Status.INVALID_ARGUMENT],
    ["XDAT0008", Status.UNAUTHENTICATED],
    ["XDAT0006", Status.PERMISSION_DENIED],
    ["XDAT0001", Status.INTERNAL],
    ["PX0001", Status.INTERNAL],
    ["XDAT9999", Status.UNKNOWN],
    ["19999", Status.UNKNOWN],
  ])("UNKNOWN with embedded %s -> %s", (code, want) => {
    const f = classifyUpstreamError(
      serviceError(Status.UNKNOWN, `rpc error: {"code":"${code}","message":"task \\"abc\\" went away"}`),
    );
    expect(f).toEqual({ code: want, message: 'task \\"abc\\" went away', upstreamCode: code });
    expect(isNotFound(serviceError(Status.UNKNOWN, JSON.stringify({ code, message: "m" })))).toBe(
      want === Status.NOT_FOUND,
    );
  });

  test("the code decides, not the message: a wrapped v2.x error as an Executor sends it", () => {
    // engine.GetTaskById: errorx.Wrap(err, "failed get task by id") around the contract's errorx.Error.
    const wrapped = `failed get task by id: failed to QueryNativeContract: {"code":"10004","message":"task not found"}`;
    expect(classifyUpstreamError(serviceError(Status.UNKNOWN, wrapped))).toEqual({
      code: Status.NOT_FOUND,
      message: "task not found",
      upstreamCode: "10004",
    });
    // A bad signature whose text says "not found" is still a bad signature.
    const sig = `get predict result failed: {"code":"10008","message":"failed to verify signature: key not found"}`;
    expect(classifyUpstreamError(serviceError(Status.UNKNOWN, sig)).code).toBe(Status.UNAUTHENTICATED);
    // errorx.NewCode nests the cause's JSON escaped inside the outer message: the outer code counts.
    const nested = JSON.stringify({
      code: "10001",
      message: `fail to x: ${JSON.stringify({ code: "10004", message: "m" })}`,
    });
    expect(classifyUpstreamError(serviceError(Status.UNKNOWN, nested)).code).toBe(Status.INTERNAL);
  });

  test("plain text, real status codes and non-gRPC errors", () => {
    // No code, no guess from the text.
    expect(classifyUpstreamError(serviceError(Status.UNKNOWN, "task does not exist")).code).toBe(Status.UNKNOWN);
    expect(classifyUpstreamError(serviceError(Status.UNKNOWN, "boom")).code).toBe(Status.UNKNOWN);
    expect(classifyUpstreamError(serviceError(Status.NOT_FOUND, "no such task")).code).toBe(Status.NOT_FOUND);
    expect(classifyUpstreamError(serviceError(Status.UNAVAILABLE, "connection refused"))).toEqual({
      code: Status.UNAVAILABLE,
      message: "connection refused",
    });
    expect(classifyUpstreamError(serviceError(Status.DEADLINE_EXCEEDED, "")).message).toBe("DEADLINE_EXCEEDED");
    expect(classifyUpstreamError(new Error("socket hang up"))).toEqual({
      code: Status.INTERNAL,
      message: "socket hang up",
    });
    expect(isNotFound(serviceError(Status.UNAVAILABLE, "not found"))).toBe(false);
  });

  test("older grpc-go's UNKNOWN for a handler's ctx.Err() is the deadline or the cancel it was", () => {
    // grpc-go before FromContextError (Debian's 1.33): status.New(codes.Unknown, appErr.Error()).
    const late = classifyUpstreamError(serviceError(Status.UNKNOWN, "context deadline exceeded"));
    expect(late.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(classifyUpstreamError(serviceError(Status.UNKNOWN, "context canceled")).code).toBe(Status.CANCELLED);
    expect(classifyUpstreamError(serviceError(Status.INTERNAL, "context canceled")).code).toBe(Status.INTERNAL);
  });

  test("long upstream messages are bounded", () => {
    const f = classifyUpstreamError(serviceError(Status.INTERNAL, "x".repeat(100_000)));
    expect(f.message.length).toBeLessThanOrEqual(1000);
  });
});

describe("wire view on malformed bytes", () => {
  const decodeOrWireError = (fn: () => unknown): void => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(WireError);
    }
  };

  test("random bytes: a view or a WireError, never another exception", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        decodeOrWireError(() => decodeTaskView(Buffer.from(bytes)));
        decodeOrWireError(() => decodeTaskList(Buffer.from(bytes)));
      }),
      { numRuns: 2000 },
    );
  });

  test("every truncation and single-byte corruption of a real task list", () => {
    const good = wire("fltasks");
    for (let n = 0; n < good.length; n++) {
      decodeOrWireError(() => decodeTaskList(good.subarray(0, n)));
      const bad = Buffer.from(good);
      bad[n] = bad[n]! ^ 0xff;
      decodeOrWireError(() => decodeTaskList(bad));
    }
  });

  test("specific malformations are reported as WireError", () => {
    const cases = [
      Buffer.from([0x0a, 0x05, 0x01]), // length beyond the end
      Buffer.from([0x00]), // field number 0
      Buffer.from([0x0b]), // unterminated group
      Buffer.alloc(50_000, 0x0b), // deep group nesting
      Buffer.from([0x0a, 0x02, 0x52, 0x7f]), // task whose field 10 (varint) is cut off
      Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]), // the simulator's "garbage" reply
    ];
    for (const b of cases) expect(() => decodeTaskList(b)).toThrow(WireError);
  });

  test("encodeTaskList(decodeTaskList(x)) is x for any list of valid tasks", () => {
    const tasks = [wire("fltask_train"), wire("fltask_predict"), wire("fltask_newer_executor")];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...tasks), { maxLength: 6 }), (picked) => {
        const list = encodeTaskList(picked.map((raw) => ({ raw })));
        const back = decodeTaskList(list);
        expect(back.map((t) => t.raw.toString("hex"))).toEqual(picked.map((b) => b.toString("hex")));
        expect(encodeTaskList(back).equals(list)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
