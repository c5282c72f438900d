/**
 * The v3 HTTP server's error and request rules (spec §10, PaddleDTX main's
 * dai/server/http_server.go and grpc-gateway v1.16 with golang/protobuf jsonpb),
 * against expected bodies written out here.
 */
import { status as Status } from "@grpc/grpc-js";
import { embeddedError, v3ErrorBody } from "../../src/v3http/http-server";
import { JsonRequestError, parseRequestJson } from "../../src/v3http/request-json";

describe("v3 error bodies", () => {
  test("an Executor's embedded code and message win, found between the first { and the first }", () => {
    expect(
      v3ErrorBody(
        Status.UNAVAILABLE,
        'Executor 10.0.0.1:8184: failed get task by id: {"code":"10004","message":"task not found"}',
      ),
    ).toBe('{"code":"10004","message":"task not found","data":null}');
    // A message with a } inside cuts the JSON short: not parsed, the class code and the gateway's text.
    expect(v3ErrorBody(Status.NOT_FOUND, 'x {"code":"10004","message":"a}b"}')).toBe(
      '{"code":"10004","message":"x {\\"code\\":\\"10004\\",\\"message\\":\\"a}b\\"}","data":null}',
    );
    // Go's json matches field names case-insensitively.
    expect(embeddedError('rpc error: code = Unknown desc = {"CODE":"10008","Message":"bad"}')).toEqual({
      code: "10008",
      message: "bad",
    });
    // code "0" is not an error code; a number is a type error.
    expect(embeddedError('x {"code":"0","message":"m"}')).toBeUndefined();
    expect(embeddedError('x {"code":10004}')).toBeUndefined();
  });

  test("the gateway's own errors get their class's code; others 10001 with Go's status text", () => {
    expect(v3ErrorBody(Status.NOT_FOUND, "task t not found on any Executor")).toBe(
      '{"code":"10004","message":"task t not found on any Executor","data":null}',
    );
    expect(v3ErrorBody(Status.UNAUTHENTICATED, "signature: bad")).toBe(
      '{"code":"10008","message":"signature: bad","data":null}',
    );
    expect(v3ErrorBody(Status.UNAVAILABLE, "no Executor answered <x>")).toBe(
      '{"code":"10001","message":"rpc error: code = Unavailable desc = no Executor answered \\u003cx\\u003e","data":null}',
    );
    expect(v3ErrorBody(Status.INVALID_ARGUMENT, "unexpected EOF", false)).toBe(
      '{"code":"10001","message":"rpc error: code = InvalidArgument desc = unexpected EOF","data":null}',
    );
  });
});

describe("v3 request bodies (jsonpb)", () => {
  const LIST = {
    pubKey: "bytes",
    ePubKey: "bytes",
    status: "string",
    timeStart: "int64",
    timeEnd: "int64",
    limit: "int64",
  } as const;

  test("int64 as a number or a quoted number, exact beyond 2^53; bytes base64; null and unknown fields ignored", () => {
    const r = parseRequestJson(
      '{"timeEnd":1796161935000000001,"timeStart":"17","limit":null,"pubKey":"AQID","x":[1,{"y":2}],"status":"Ready"}',
      LIST,
    );
    expect(r).toEqual({
      timeEnd: 1796161935000000001n,
      timeStart: 17n,
      pubKey: Buffer.from([1, 2, 3]),
      status: "Ready",
    });
  });

  test("an empty body, whitespace or null is an empty request; only the first JSON value counts", () => {
    expect(parseRequestJson("", LIST)).toEqual({});
    expect(parseRequestJson("  \n", LIST)).toEqual({});
    expect(parseRequestJson("null", LIST)).toEqual({});
    expect(parseRequestJson('{"status":"Ready"} trailing junk', LIST)).toEqual({ status: "Ready" });
  });

  test("field names are exact (case matters); wrong types and bad values are errors", () => {
    expect(parseRequestJson('{"Status":"Ready","TASKID":"x"}', LIST)).toEqual({});
    for (const body of [
      '{"limit":1.5}',
      '{"limit":"1e3"}',
      '{"limit":9223372036854775808}',
      '{"status":5}',
      '{"pubKey":"not base64!"}',
      '{"pubKey":"AQI"}',
      "[1,2]",
      '"text"',
      "{",
      "nope",
    ]) {
      expect(() => parseRequestJson(body, LIST)).toThrow(JsonRequestError);
    }
  });
});
