/**
 * PaddleDTX-style HTTP/JSON routes over the same cluster operations the gRPC service
 * uses (ClusterTasks + the shared answer rules), so validation, caching, partial
 * answers and prediction routing/authorization behave the same on both.
 *
 *   POST /v1/task/list           ListTaskRequest JSON  -> FLTasks JSON
 *   POST /v1/task/getbyid        GetTaskRequest JSON   -> FLTask JSON (+ holders)
 *   POST /v1/task/predictres/get TaskRequest JSON      -> PredictResponse JSON
 *
 * Replies: {code: "0", message: "ok", data, executors: {asked, answered, failed}, cache}.
 */
import { randomUUID } from "node:crypto";
import type http from "node:http";
import { status as Status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { CallAdmission } from "../api/admission";
import { checkListAnswer, requireGetAnswer } from "../api/answer-rules";
import { REQUEST_HEADER } from "../api/task-service";
import { ApiError, validateGetRequest, validateListRequest } from "../api/validate";
import { GatewayError, type ClusterTasks } from "../fanout/cluster-tasks";
import type { CallContext, FanoutReport } from "../fanout/report";
import { TaskRequest } from "../gen/task/task";
import { applyCors, errorCode, HttpApiError, httpStatusOf, readJsonBody, sendJson, SUCCESS_CODE } from "./json-api";
import type { HttpServer } from "./server";
import { parseGetBody, parseListBody, parsePredictBody, predictResponseJson, taskJson } from "./task-json";

export interface JsonRouteOptions {
  /** The gRPC server's admission counter: HTTP calls count against the same limits and drain. */
  admission?: CallAdmission;
  maxListTasks: number;
  /** Deadlines of calls (src/config/deadlines.ts): HTTP clients send none. */
  defaultDeadlineMs: number;
  predictDeadlineMs?: number;
  maxRequestBytes: number;
  corsOrigins: readonly string[];
}

function reportJson(report: FanoutReport | undefined): unknown {
  if (!report) return undefined;
  return { asked: report.asked.length, answered: report.answered.length, failed: report.failed };
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === "string" ? v : undefined;
}

type JsonHandler = (
  body: Record<string, unknown>,
  ctx: CallContext,
  req: http.IncomingMessage,
) => Promise<Record<string, unknown>>;

/** Registers a JSON route (and its CORS preflight) with the envelope and error mapping. */
export function jsonRoute(
  server: HttpServer,
  method: "GET" | "POST",
  path: string,
  opts: Pick<JsonRouteOptions, "admission" | "defaultDeadlineMs" | "maxRequestBytes" | "corsOrigins">,
  log: Logger,
  handler: JsonHandler,
): void {
  server.route("OPTIONS", path, (req, res) => {
    applyCors(req, res, opts.corsOrigins);
    res.writeHead(204).end();
  });
  server.route(method, path, async (req, res) => {
    applyCors(req, res, opts.corsOrigins);
    const started = performance.now();
    const headerId = header(req, REQUEST_HEADER.requestId);
    const requestId = headerId && /^[\w.:-]{1,64}$/.test(headerId) ? headerId : randomUUID();
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    const ctx: CallContext = { deadline: Date.now() + opts.defaultDeadlineMs, signal: abort.signal, requestId };
    let httpStatus = 200;
    let code = Status.OK;
    let release = (): void => {};
    try {
      if (opts.admission) release = opts.admission.enter(`http:${req.socket.remoteAddress}:${req.socket.remotePort}`);
      const body = method === "POST" ? await readJsonBody(req, opts.maxRequestBytes) : {};
      const out = await handler(body, ctx, req);
      sendJson(res, 200, { code: SUCCESS_CODE, message: "ok", ...out });
    } catch (err) {
      let message = "internal error";
      let report: FanoutReport | undefined;
      code = Status.INTERNAL;
      if (err instanceof HttpApiError || err instanceof ApiError || err instanceof GatewayError) {
        code = err.code;
        message = err.message;
        if (err instanceof GatewayError) report = err.report;
      } else {
        log.error({ requestId, route: path, err }, "unexpected error");
      }
      httpStatus = err instanceof HttpApiError && err.httpStatus ? err.httpStatus : httpStatusOf(code);
      // The rest of an oversized body is not read: the connection is not reused.
      if (httpStatus === 413) res.setHeader("connection", "close");
      if (!res.headersSent) {
        sendJson(res, httpStatus, { code: errorCode(code), message, data: null, executors: reportJson(report) });
      } else res.end();
    } finally {
      release();
      log.info(
        {
          requestId,
          route: `${method} ${path}`,
          code: Status[code],
          http: httpStatus,
          ms: Math.round(performance.now() - started),
        },
        "served",
      );
    }
  });
}

/** Registers the three Task routes. */
export function registerTaskRoutes(
  server: HttpServer,
  cluster: ClusterTasks,
  opts: JsonRouteOptions,
  log: Logger,
): void {
  const strict = (req: http.IncomingMessage): boolean =>
    header(req, REQUEST_HEADER.consistency)?.toLowerCase() === "strict";
  const noCache = (req: http.IncomingMessage): boolean =>
    header(req, REQUEST_HEADER.cacheControl)?.toLowerCase() === "no-cache";
  const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

  jsonRoute(server, "POST", "/v1/task/list", opts, log, async (body, ctx, req) => {
    const q = validateListRequest(parseListBody(body, nowNs));
    const answer = await cluster.list(q, ctx, { noCache: noCache(req) });
    checkListAnswer(q, answer, strict(req), opts.maxListTasks);
    return {
      data: { fLTasks: answer.tasks.map(taskJson) },
      executors: reportJson(answer.report),
      cache: answer.cache,
    };
  });

  jsonRoute(server, "POST", "/v1/task/getbyid", opts, log, async (body, ctx, req) => {
    const taskID = validateGetRequest(parseGetBody(body));
    const answer = await cluster.get(taskID, ctx, { noCache: noCache(req), holders: true });
    const task = requireGetAnswer(taskID, answer, strict(req));
    return {
      data: taskJson(task),
      executors: reportJson(answer.report),
      cache: answer.cache,
      // Which Executors returned a copy (on a cache hit: as of the fetch that filled it).
      holders: answer.holders,
    };
  });

  const predictOpts = { ...opts, defaultDeadlineMs: opts.predictDeadlineMs ?? opts.defaultDeadlineMs };
  jsonRoute(server, "POST", "/v1/task/predictres/get", predictOpts, log, async (body, ctx) => {
    const req = parsePredictBody(body);
    // The same bytes a gRPC client would send go down the same routed, authorized path.
    const raw = Buffer.from(TaskRequest.encode(req).finish());
    const reply = await cluster.predict(raw, req, ctx);
    return { data: predictResponseJson(reply) };
  });
}
