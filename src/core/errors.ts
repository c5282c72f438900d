/**
 * The one client-facing error type, and the one table that maps it to what each side
 * of the gateway sends (the model: fastify's lib/errors.js, one catalog of codes).
 *
 * Anything on the data path that must reach a client as a particular status throws a
 * GatewayError (or a subclass, e.g. a prediction refusal that also carries its
 * reason). The request pipeline (src/api/pipeline.ts) turns it into a gRPC status or
 * an HTTP/JSON envelope through `STATUS_CATALOG`; any other error is INTERNAL.
 */
import { status as Status } from "@grpc/grpc-js";
import { ERROR_CODE_TABLE, UPSTREAM_CODE_STATUS } from "../upstream/error-codes";
import type { FanoutReport } from "./report";

export interface GatewayErrorOptions {
  /** What the fan-out behind the failure did (trailers, JSON `executors`). */
  report?: FanoutReport;
  /** Overrides the HTTP status the catalog gives `code` (413 body too large, 415). */
  httpStatus?: number;
  /** A load-shedding refusal: when to try again (gRPC `grpc-retry-pushback-ms`, HTTP `Retry-After`). */
  retryAfterMs?: number;
}

export class GatewayError extends Error {
  override name = "GatewayError";
  readonly report?: FanoutReport;
  readonly httpStatus?: number;
  readonly retryAfterMs?: number;

  constructor(
    readonly code: Status,
    message: string,
    reportOrOptions?: FanoutReport | GatewayErrorOptions,
  ) {
    super(message);
    const o: GatewayErrorOptions =
      reportOrOptions === undefined || "asked" in reportOrOptions ? { report: reportOrOptions } : reportOrOptions;
    this.report = o.report;
    this.httpStatus = o.httpStatus;
    this.retryAfterMs = o.retryAfterMs;
  }
}

/** A request field is wrong; the message names it. */
export function invalidArgument(message: string): GatewayError {
  return new GatewayError(Status.INVALID_ARGUMENT, message);
}

/**
 * The Executor codes (of src/upstream/error-codes.ts, the one table) that the JSON
 * envelope uses as its `code` for their status: the v1.x spelling, as PaddleDTX's own
 * HTTP clients expect. Other statuses are rendered by name.
 */
const JSON_CODE_MEANINGS: ReadonlySet<string> = new Set([
  "internal",
  "bad parameter",
  "not found",
  "not authorized",
  "bad signature",
]);
export const EXECUTOR_CODES = ERROR_CODE_TABLE.filter((r) => JSON_CODE_MEANINGS.has(r.meaning));

interface CatalogEntry {
  /** HTTP status of the JSON routes, as grpc-gateway maps the gRPC status. */
  http: number;
  /** The `code` of the JSON envelope: the Executor's code where it has one, else the status name. */
  jsonCode: string;
}

const HTTP_OF: Partial<Record<Status, number>> = {
  [Status.OK]: 200,
  [Status.INVALID_ARGUMENT]: 400,
  [Status.FAILED_PRECONDITION]: 400,
  [Status.OUT_OF_RANGE]: 400,
  [Status.UNAUTHENTICATED]: 401,
  [Status.PERMISSION_DENIED]: 403,
  [Status.NOT_FOUND]: 404,
  [Status.ALREADY_EXISTS]: 409,
  [Status.ABORTED]: 409,
  [Status.RESOURCE_EXHAUSTED]: 429,
  [Status.CANCELLED]: 499,
  [Status.UNIMPLEMENTED]: 501,
  [Status.UNAVAILABLE]: 503,
  [Status.DEADLINE_EXCEEDED]: 504,
};

/** The JSON envelope's code on success. */
export const SUCCESS_CODE = "0";

/** Every gRPC status: its HTTP status and JSON envelope code. */
export const STATUS_CATALOG: ReadonlyMap<Status, CatalogEntry> = new Map(
  (Object.values(Status).filter((v) => typeof v === "number") as Status[]).map((code) => {
    const exec = EXECUTOR_CODES.find((e) => e.status === code);
    const jsonCode = code === Status.OK ? SUCCESS_CODE : (exec?.v1 ?? Status[code] ?? "UNKNOWN");
    return [code, { http: HTTP_OF[code] ?? 500, jsonCode }];
  }),
);

export function httpStatusOf(code: Status): number {
  return STATUS_CATALOG.get(code)?.http ?? 500;
}

export function jsonCodeOf(code: Status): string {
  return STATUS_CATALOG.get(code)?.jsonCode ?? "UNKNOWN";
}

/** Executor code (any family) -> the status the gateway reports for it. */
export { UPSTREAM_CODE_STATUS };

/** What the client gets for an error that is not a GatewayError: INTERNAL, and nothing of its text. */
export function toGatewayError(err: unknown): { error: GatewayError; unexpected: boolean } {
  if (err instanceof GatewayError) return { error: err, unexpected: false };
  return { error: new GatewayError(Status.INTERNAL, "internal error"), unexpected: true };
}
