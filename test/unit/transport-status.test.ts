/** The own transport's gRPC vocabulary: grpc-timeout, grpc-message encoding, status mapping, metadata. */
import { constants as h2, type OutgoingHttpHeaders } from "node:http2";
import * as grpc from "@grpc/grpc-js";
import {
  Status,
  TransportError,
  decodeGrpcMessage,
  decodeTimeout,
  encodeGrpcMessage,
  encodeTimeout,
  headersToMetadata,
  httpStatusToGrpc,
  metadataToHeaders,
  rstCodeToGrpc,
} from "../../src/transport/status";

describe("grpc-timeout", () => {
  test.each([
    [0, "1m"],
    [-5, "1m"],
    [0.2, "1m"],
    [1.5, "2m"],
    [1000, "1000m"],
    [99_999_999, "99999999m"],
    [100_000_000, "100000S"],
    [100_000_001, "100001S"], // rounded up: the server must not give up first
    [99_999_999 * 1000 + 1, "27778H"],
  ])("encodeTimeout(%p) = %p", (ms, wire) => {
    expect(encodeTimeout(ms)).toBe(wire);
  });

  test.each([1, 250, 99_999_999, 100_000_000, 3_600_000_000, 1e12])(
    "encoding %p never undercuts it and round-trips",
    (ms) => {
      const wire = encodeTimeout(ms);
      expect(wire).toMatch(/^[0-9]{1,8}[HMSmun]$/);
      expect(decodeTimeout(wire)).toBeGreaterThanOrEqual(ms);
    },
  );

  test.each([
    ["5H", 5 * 3_600_000],
    ["2M", 120_000],
    ["3S", 3000],
    ["7m", 7],
    ["1500u", 1.5],
    ["2000000n", 2],
    ["00000001m", 1],
  ])("decodeTimeout(%p) = %p ms", (wire, ms) => {
    expect(decodeTimeout(wire)).toBeCloseTo(ms, 9);
  });

  test.each(["", "5", "m", "123456789m", "5s", "5 m", " 5m", "-5m", "5.5m", "5mm", "0x5m"])(
    "decodeTimeout(%p) is malformed",
    (wire) => {
      expect(decodeTimeout(wire)).toBeUndefined();
    },
  );
});

describe("grpc-message", () => {
  test.each([
    ["plain ASCII", "task not found", "task not found"],
    ["percent itself", "100% sure", "100%25 sure"],
    ["newline and tab", "a\nb\tc", "a%0Ab%09c"],
    ["UTF-8", "é✓", "%C3%A9%E2%9C%93"],
    ["DEL and space edges", " ~\x7f", " ~%7F"],
    ["empty", "", ""],
  ])("%s: encodes outside 0x20–0x7E and '%%' only", (_name, raw, wire) => {
    expect(encodeGrpcMessage(raw)).toBe(wire);
    expect(decodeGrpcMessage(wire)).toBe(raw);
  });

  test.each([
    ["no escape", "hello", "hello"],
    ["lower-case hex", "%c3%a9", "é"],
    ["lone percent kept", "50% off", "50% off"],
    ["bad hex kept", "%ZZ", "%ZZ"],
    ["truncated escape kept", "abc%4", "abc%4"],
    ["good runs decoded around a bad one", "%41%ZZ%42", "A%ZZB"],
    ["invalid UTF-8 run kept, valid one decoded", "%FF x %C3%A9", "%FF x é"],
  ])("decode %s", (_name, wire, raw) => {
    expect(decodeGrpcMessage(wire)).toBe(raw);
  });

  test("every encoded message is header-safe ASCII", () => {
    const all = Array.from({ length: 300 }, (_, i) => String.fromCodePoint(i * 37)).join("");
    const wire = encodeGrpcMessage(all);
    expect(wire).toMatch(/^[\x20-\x7e]*$/);
    expect(decodeGrpcMessage(wire)).toBe(all);
  });
});

describe("status mapping", () => {
  test.each([
    [400, Status.INTERNAL],
    [401, Status.UNAUTHENTICATED],
    [403, Status.PERMISSION_DENIED],
    [404, Status.UNIMPLEMENTED],
    [429, Status.UNAVAILABLE],
    [502, Status.UNAVAILABLE],
    [503, Status.UNAVAILABLE],
    [504, Status.UNAVAILABLE],
    [200, Status.UNKNOWN],
    [500, Status.UNKNOWN],
  ])("HTTP %p → %p", (http, code) => {
    expect(httpStatusToGrpc(http)).toBe(code);
  });

  test.each([
    [h2.NGHTTP2_REFUSED_STREAM, Status.UNAVAILABLE],
    [h2.NGHTTP2_CANCEL, Status.CANCELLED],
    [h2.NGHTTP2_ENHANCE_YOUR_CALM, Status.RESOURCE_EXHAUSTED],
    [h2.NGHTTP2_INADEQUATE_SECURITY, Status.PERMISSION_DENIED],
    [h2.NGHTTP2_PROTOCOL_ERROR, Status.INTERNAL],
    [h2.NGHTTP2_INTERNAL_ERROR, Status.INTERNAL],
    [h2.NGHTTP2_NO_ERROR, Status.INTERNAL],
  ])("RST_STREAM %p → %p", (rst, code) => {
    expect(rstCodeToGrpc(rst)).toBe(code);
  });

  test("TransportError has ServiceError's shape and names its code", () => {
    const e = new TransportError(Status.UNAVAILABLE, "connection refused");
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe(grpc.status.UNAVAILABLE);
    expect(e.details).toBe("connection refused");
    expect(e.message).toBe("14 UNAVAILABLE: connection refused");
    expect(e.metadata.getMap()).toEqual({});
  });
});

describe("metadata ⇄ headers", () => {
  test("outgoing: transport headers dropped, -bin base64, repeated keys kept", () => {
    const md = new grpc.Metadata();
    md.add("x-trace", "a");
    md.add("x-trace", "b");
    md.add("x-key-bin", Buffer.from([0, 1, 255]));
    md.add("grpc-timeout", "5m");
    md.add("content-type", "text/plain");
    md.add("user-agent", "evil");
    const h: OutgoingHttpHeaders = {};
    metadataToHeaders(md, h);
    expect(h).toEqual({ "x-trace": ["a", "b"], "x-key-bin": Buffer.from([0, 1, 255]).toString("base64") });
  });

  test("incoming: pseudo and transport headers dropped, -bin decoded (also comma-joined), bad keys skipped", () => {
    const md = headersToMetadata({
      ":status": "200",
      "content-type": "application/grpc",
      "grpc-status": "0",
      "grpc-message": "ok",
      "x-one": "1",
      "x-many": ["a", "b"],
      "x-key-bin": `${Buffer.from("hi").toString("base64")}, ${Buffer.from([7]).toString("base64")}`,
      "Bad Key": "x",
    });
    expect(md.get("x-one")).toEqual(["1"]);
    expect(md.get("x-many")).toEqual(["a", "b"]);
    expect(md.get("x-key-bin")).toEqual([Buffer.from("hi"), Buffer.from([7])]);
    expect(Object.keys(md.getMap()).sort()).toEqual(["x-key-bin", "x-many", "x-one"]);
  });

  test("round trip keeps user metadata", () => {
    const md = new grpc.Metadata();
    md.add("dai-executors-asked", "3");
    md.add("sig-bin", Buffer.from([1, 2, 3, 4]));
    const h: Record<string, string | string[]> = {};
    metadataToHeaders(md, h);
    const back = headersToMetadata(h);
    expect(back.get("dai-executors-asked")).toEqual(["3"]);
    expect(back.get("sig-bin")).toEqual([Buffer.from([1, 2, 3, 4])]);
  });
});
