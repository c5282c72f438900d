/**
 * PaddleDTX-style HTTP/JSON routes: the HTTP side of the request pipeline, over the
 * same reader, answer rules and prediction service the gRPC service uses, so
 * validation, caching, partial answers and prediction routing/authorization behave
 * the same on both.
 *
 *   POST /v1/task/list           ListTaskRequest JSON  -> FLTasks JSON
 *   POST /v1/task/getbyid        GetTaskRequest JSON   -> FLTask JSON (+ holders)
 *   POST /v1/task/predictres/get TaskRequest JSON      -> PredictResponse JSON
 *
 * Replies: {code: "0", message: "ok", data, executors: {asked, answered, failed}, cache}.
 */
import { status as Status } from "@grpc/grpc-js";
import { checkListAnswer, readList, requireGetAnswer } from "../api/answer-rules";
import { REQUEST_HEADER, type RequestPipeline, type ServedContext } from "../api/pipeline";
import { validateGetRequest, validateListRequest } from "../api/validate";
import { GatewayError, httpStatusOf } from "../core/errors";
import type { TaskReader } from "../core/reader";
import { TaskRequest } from "../gen/task/task";
import { KNOWN_STATUSES } from "../merge/status";
import type { PredictService } from "../predict/service";
import { errorEnvelope, parseJsonObject, reportJson, successEnvelope } from "./json-api";
import type { HttpServer } from "./server";
import { parseGetBody, parseListBody, parsePredictBody, predictResponseJson, taskJson } from "./task-json";
import { httpServedCall } from "./served-call";

export interface JsonRouteOptions {
  /** Most tasks one ListTask answer may hold (api.maxListTasks). */
  maxListTasks: number;
  /** A client that has not taken its prediction reply this long after it was ready is cut off (predict.writeTimeoutMs). */
  predictWriteTimeoutMs: number;
}

type JsonHandler = (body: Record<string, unknown>, ctx: ServedContext) => Promise<Record<string, unknown>>;

/**
 * Registers a JSON route served through the pipeline. `label` names the call in
 * metrics and logs: the Task API method for the Task routes, so a ListTask is
 * counted the same whichever side it came in on.
 */
export function jsonRoute(
  server: HttpServer,
  pipeline: RequestPipeline,
  method: "GET" | "POST",
  path: string,
  label: string,
  handler: JsonHandler,
): void {
  server.app.route({
    method,
    url: path,
    handler: async (req, reply) => {
      try {
        const out = await pipeline.serve(httpServedCall(label, req, reply, "http"), (ctx) =>
          handler(method === "POST" ? parseJsonObject(req.body as Buffer | undefined) : {}, ctx),
        );
        return await reply.header("cache-control", "no-store").send(successEnvelope(out));
      } catch (err) {
        const e = err as GatewayError;
        return reply
          .code(e.httpStatus ?? httpStatusOf(e.code))
          .header("cache-control", "no-store")
          .send(errorEnvelope(e));
      }
    },
  });
}

/** A status that only differs in case from a real one ("finished"): never matches (spec §4). */
export function statusCaseWarning(status: string): string | undefined {
  if (status === "" || (KNOWN_STATUSES as readonly string[]).includes(status)) return undefined;
  const real = KNOWN_STATUSES.find((s) => s.toLowerCase() === status.toLowerCase());
  if (real === undefined) return undefined;
  return `status "${status}" matches no task: statuses are case-sensitive (did you mean "${real}"?)`;
}

/** Registers the three Task routes. */
export function registerTaskRoutes(
  server: HttpServer,
  pipeline: RequestPipeline,
  reader: TaskReader,
  predictions: PredictService | undefined,
  opts: JsonRouteOptions,
): void {
  const strict = (ctx: ServedContext): boolean =>
    ctx.call.header(REQUEST_HEADER.consistency)?.toLowerCase() === "strict";
  const noCache = (ctx: ServedContext): boolean =>
    ctx.call.header(REQUEST_HEADER.cacheControl)?.toLowerCase() === "no-cache";
  const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

  jsonRoute(server, pipeline, "POST", "/v1/task/list", "ListTask", async (body, ctx) => {
    const q = validateListRequest(parseListBody(body, nowNs));
    const answer = await readList(reader, q, ctx, { noCache: noCache(ctx) });
    checkListAnswer(q, answer, strict(ctx), opts.maxListTasks);
    ctx.cache = answer.cache;
    const warning = statusCaseWarning(q.status);
    return {
      data: { fLTasks: answer.tasks.map(taskJson) },
      executors: reportJson(answer.report),
      cache: answer.cache,
      ...(warning !== undefined ? { warning } : {}),
    };
  });

  jsonRoute(server, pipeline, "POST", "/v1/task/getbyid", "GetTaskById", async (body, ctx) => {
    const taskID = validateGetRequest(parseGetBody(body));
    const answer = await reader.get(taskID, ctx, { noCache: noCache(ctx), holders: true });
    const task = requireGetAnswer(taskID, answer, strict(ctx));
    ctx.cache = answer.cache;
    return {
      data: taskJson(task),
      executors: reportJson(answer.report),
      cache: answer.cache,
      // Which Executors returned a copy (on a cache hit: as of the fetch that filled it).
      holders: answer.holders,
    };
  });

  jsonRoute(server, pipeline, "POST", "/v1/task/predictres/get", "GetPredictResult", async (body, ctx) => {
    if (!predictions) throw new GatewayError(Status.UNIMPLEMENTED, "predictions not configured");
    const req = parsePredictBody(body);
    // The same bytes a gRPC client would send go down the same routed, authorized path.
    const raw = Buffer.from(TaskRequest.encode(req).finish());
    // The relay's slot and bytes are held until the response is out (or the client gone).
    const delivery = ctx.call.delivery?.();
    const reply = await predictions.handle(raw, req, ctx, delivery?.ended);
    delivery?.deadline(opts.predictWriteTimeoutMs);
    return { data: predictResponseJson(reply) };
  });
}
