/**
 * The HTTP side's own rules, on a loopback port in this process (fastify's inject
 * needs an ESM-only dependency jest cannot load): 405 with
 * Allow for a known path, 404 otherwise, the body limit as 413 with the envelope,
 * any content type read as the route's JSON, CORS only for allowed origins, and the
 * JSON envelope helpers.
 */
import { status } from "@grpc/grpc-js";
import pino from "pino";
import { RequestPipeline } from "../../src/api/pipeline";
import { GatewayError } from "../../src/core/errors";
import { FanoutReport } from "../../src/core/report";
import { errorEnvelope, parseJsonObject, successEnvelope } from "../../src/http/json-api";
import { HttpServer } from "../../src/http/server";
import { jsonRoute } from "../../src/http/task-routes";
import { memoryLogger } from "../helpers/quiet-log";

async function server(corsOrigins: string[] = []): Promise<HttpServer> {
  const s = await HttpServer.create({ maxRequestBytes: 1024, corsOrigins });
  const pipeline = new RequestPipeline({ defaultDeadlineMs: 1000 }, pino({ level: "silent" }));
  jsonRoute(s, pipeline, "POST", "/v1/echo", "Echo", async (body) => ({ data: body }));
  jsonRoute(s, pipeline, "POST", "/v1/fail", "Fail", async () => {
    const r = new FanoutReport();
    r.asked.push("a:1");
    throw new GatewayError(status.UNAVAILABLE, "no Executor answered", r);
  });
  s.app.get("/page", (_req, reply) => reply.send("page"));
  return s;
}

interface Reply {
  statusCode: number;
  headers: Record<string, string | undefined>;
  json(): Record<string, unknown> & { code?: string; message?: string; data?: unknown };
}

describe("HttpServer", () => {
  let s: HttpServer;
  let base = "";
  const inject = async (o: {
    method: string;
    url: string;
    payload?: string;
    headers?: Record<string, string>;
  }): Promise<Reply> => {
    const res = await fetch(base + o.url, { method: o.method, body: o.payload, headers: o.headers });
    const text = await res.text();
    return {
      statusCode: res.status,
      headers: Object.fromEntries(res.headers.entries()),
      json: () => JSON.parse(text) as ReturnType<Reply["json"]>,
    };
  };
  beforeAll(async () => {
    s = await server(["http://ok.example"]);
    base = `http://127.0.0.1:${await s.listen("127.0.0.1", 0)}`;
  });
  afterAll(async () => {
    await s.close();
  });

  test("405 with Allow for a known path asked with another method; 404 for an unknown path", async () => {
    const get = await inject({ method: "GET", url: "/v1/echo" });
    expect(get.statusCode).toBe(405);
    expect(get.headers.allow).toBe("POST");
    const head = await inject({ method: "HEAD", url: "/page" });
    expect(head.statusCode).toBe(405);
    expect(head.headers.allow).toBe("GET");
    expect((await inject({ method: "GET", url: "/nope" })).statusCode).toBe(404);
  });

  test("any content type is the route's JSON; empty is {}; errors are the envelope with the catalog's status", async () => {
    const plain = await inject({
      method: "POST",
      url: "/v1/echo",
      payload: '{"a":1}',
      headers: { "content-type": "text/plain" },
    });
    expect(plain.json()).toEqual({ code: "0", message: "ok", data: { a: 1 } });
    expect((await inject({ method: "POST", url: "/v1/echo" })).json().data).toEqual({});
    const bad = await inject({ method: "POST", url: "/v1/echo", payload: "{oops" });
    expect([bad.statusCode, bad.json().code, bad.json().message]).toEqual([
      400,
      "XDAT0002",
      "request body is not valid JSON",
    ]);
    const fail = await inject({ method: "POST", url: "/v1/fail" });
    expect(fail.statusCode).toBe(503);
    expect(fail.json()).toEqual({
      code: "UNAVAILABLE",
      message: "no Executor answered",
      data: null,
      executors: { asked: 1, answered: 0, failed: [] },
    });
  });

  test("a body over the limit is 413 with the envelope and the connection closed", async () => {
    const big = await inject({
      method: "POST",
      url: "/v1/echo",
      payload: JSON.stringify({ x: "y".repeat(2000) }),
      headers: { "content-type": "application/json" },
    });
    expect(big.statusCode).toBe(413);
    expect(big.json().code).toBe("XDAT0002");
    expect(big.headers.connection).toBe("close");
  });

  test("CORS headers only for an allowed origin", async () => {
    const ok = await inject({ method: "POST", url: "/v1/echo", headers: { origin: "http://ok.example" } });
    expect(ok.headers["access-control-allow-origin"]).toBe("http://ok.example");
    const other = await inject({ method: "POST", url: "/v1/echo", headers: { origin: "http://evil.example" } });
    expect(other.headers["access-control-allow-origin"]).toBeUndefined();
    const pre = await inject({
      method: "OPTIONS",
      url: "/v1/echo",
      headers: { origin: "http://ok.example", "access-control-request-method": "POST" },
    });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers["access-control-allow-origin"]).toBe("http://ok.example");
  });
});

describe("json-api", () => {
  test.each([
    ["", {}],
    ["  ", {}],
    ['{"a":1}', { a: 1 }],
  ])("parseJsonObject(%j)", (text, want) => expect(parseJsonObject(Buffer.from(text))).toEqual(want));

  test.each(["[]", "3", "null", "{"])("parseJsonObject(%j) is INVALID_ARGUMENT", (text) => {
    expect(() => parseJsonObject(text)).toThrow(GatewayError);
  });

  test("envelopes", () => {
    expect(successEnvelope({ data: 1 })).toEqual({ code: "0", message: "ok", data: 1 });
    expect(errorEnvelope(new GatewayError(status.NOT_FOUND, "gone"))).toEqual({
      code: "XDAT0004",
      message: "gone",
      data: null,
      executors: undefined,
    });
  });
});

describe("HttpServer: an unexpected error in a route", () => {
  test("is answered 500 without its text, and logged as an error with it (not as a refusal)", async () => {
    const { log, lines } = memoryLogger();
    const s = await HttpServer.create({ maxRequestBytes: 1024, corsOrigins: [], log });
    s.app.get("/broken", async () => {
      throw new Error("render failed: registry gone");
    });
    const port = await s.listen("127.0.0.1", 0);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/broken`);
      expect(res.status).toBe(500);
      expect(await res.text()).not.toContain("registry gone");
      const line = lines.find((l) => l.msg !== "refused" && JSON.stringify(l.err ?? "").includes("registry gone"));
      expect(line?.level).toBe(50);
    } finally {
      await s.close();
    }
  });
});
