/**
 * The JSON side of the HTTP API: the `{code, message, data}` envelope PaddleDTX HTTP
 * routes use, and request bodies parsed into a JSON object. Status and code mapping
 * come from the one catalog (src/core/errors.ts).
 */
import { status as Status } from "@grpc/grpc-js";
import { GatewayError, jsonCodeOf, SUCCESS_CODE } from "../core/errors";
import type { FanoutReport } from "../core/report";

export { SUCCESS_CODE };

/** A request body (already bounded by the server's body limit) as a JSON object; empty is `{}`. */
export function parseJsonObject(raw: Buffer | string | undefined): Record<string, unknown> {
  const text = (typeof raw === "string" ? raw : (raw?.toString("utf8") ?? "")).trim();
  if (text === "") return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new GatewayError(Status.INVALID_ARGUMENT, "request body is not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new GatewayError(Status.INVALID_ARGUMENT, "request body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

/** The body over the limit: 413, and the connection is not reused (the rest is not read). */
export function bodyTooLarge(maxBytes: number): GatewayError {
  return new GatewayError(Status.INVALID_ARGUMENT, `request body exceeds ${maxBytes} bytes`, { httpStatus: 413 });
}

export function reportJson(report: FanoutReport | undefined): unknown {
  if (!report) return undefined;
  return {
    asked: report.asked.length,
    answered: report.answered.length,
    failed: report.failed,
    ...(report.departed > 0 ? { departed: report.departed } : {}),
  };
}

export function successEnvelope(out: Record<string, unknown>): Record<string, unknown> {
  return { code: SUCCESS_CODE, message: "ok", ...out };
}

export function errorEnvelope(err: GatewayError): Record<string, unknown> {
  return { code: jsonCodeOf(err.code), message: err.message, data: null, executors: reportJson(err.report) };
}
