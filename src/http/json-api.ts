/**
 * The JSON side of the HTTP API: bounded body reading, the `{code, message, data}`
 * envelope PaddleDTX HTTP routes use, gRPC status -> HTTP status, and CORS.
 */
import type http from "node:http";
import { status as Status } from "@grpc/grpc-js";

export class HttpApiError extends Error {
  constructor(
    readonly code: Status,
    message: string,
    /** Overrides the HTTP status derived from `code` (413, 415). */
    readonly httpStatus?: number,
  ) {
    super(message);
  }
}

export const SUCCESS_CODE = "0";

/** Executor-style error codes where the Executor has one; the gRPC status name otherwise. */
const ERROR_CODES: Partial<Record<Status, string>> = {
  [Status.INVALID_ARGUMENT]: "XDAT0002",
  [Status.NOT_FOUND]: "XDAT0004",
  [Status.PERMISSION_DENIED]: "XDAT0006",
  [Status.UNAUTHENTICATED]: "XDAT0008",
  [Status.INTERNAL]: "XDAT0001",
};

/** As grpc-gateway maps them. */
const HTTP_STATUS: Partial<Record<Status, number>> = {
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

export function errorCode(code: Status): string {
  return ERROR_CODES[code] ?? Status[code] ?? "UNKNOWN";
}

export function httpStatusOf(code: Status): number {
  return HTTP_STATUS[code] ?? 500;
}

/** Reads and parses a JSON object body of at most `maxBytes`. An empty body is `{}`. */
export async function readJsonBody(req: http.IncomingMessage, maxBytes: number): Promise<Record<string, unknown>> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    throw new HttpApiError(Status.INVALID_ARGUMENT, `request body of ${declared} bytes exceeds ${maxBytes}`, 413);
  }
  const chunks = await new Promise<Buffer[]>((resolve, reject) => {
    const got: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        // Stop buffering but keep draining, so the 413 reply reaches the client.
        req.off("data", onData);
        req.resume();
        reject(new HttpApiError(Status.INVALID_ARGUMENT, `request body exceeds ${maxBytes} bytes`, 413));
        return;
      }
      got.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => resolve(got));
    req.once("error", reject);
  });
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (text === "") return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpApiError(Status.INVALID_ARGUMENT, "request body is not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpApiError(Status.INVALID_ARGUMENT, "request body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

export function sendJson(res: http.ServerResponse, httpStatus: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(httpStatus, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}

/** Adds CORS headers when the request's Origin is allowed. Returns true when it was. */
export function applyCors(req: http.IncomingMessage, res: http.ServerResponse, allowed: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || allowed.length === 0) return false;
  const any = allowed.includes("*");
  if (!any && !allowed.includes(origin)) return false;
  res.setHeader("access-control-allow-origin", any ? "*" : origin);
  if (!any) res.setHeader("vary", "Origin");
  res.setHeader("access-control-allow-methods", "GET, POST, OPTIONS");
  res.setHeader("access-control-allow-headers", "content-type, x-request-id, dai-consistency, dai-cache-control");
  res.setHeader("access-control-max-age", "600");
  return true;
}
