/**
 * Executors answer with plain errors: gRPC UNKNOWN whose message embeds
 * `{"code":"10004","message":"..."}`, often wrapped in context (spec §7). This reads the
 * code and maps it through the one table (./error-codes.ts).
 */
import { status as Status, type ServiceError } from "@grpc/grpc-js";
import { statusOfErrorCode } from "./error-codes";
import { statusFromPeer } from "../transport/status";

export interface UpstreamFailure {
  /** The status the gateway should report for this failure. */
  code: Status;
  /** A short, client-safe description. */
  message: string;
  /** The Executor's own error code (e.g. 10004, XDAT0004), if it sent one. */
  upstreamCode?: string;
}

// The outermost embedded object: in a wrapped errorx error the inner ones are escaped (\"code\").
const EMBEDDED_CODE = /"code"\s*:\s*"([0-9A-Za-z]{1,16})"/;
const EMBEDDED_MESSAGE = /"message"\s*:\s*"((?:[^"\\]|\\.){0,300})"/;

function isServiceError(err: unknown): err is ServiceError {
  return (
    typeof err === "object" && err !== null && "code" in err && typeof (err as { code: unknown }).code === "number"
  );
}

/** Classifies an error from a call to an Executor. */
export function classifyUpstreamError(err: unknown): UpstreamFailure {
  if (!isServiceError(err)) {
    return { code: Status.INTERNAL, message: (err as Error)?.message ?? String(err) };
  }
  const details = String(err.details ?? "").slice(0, 1000);
  if (err.code === Status.UNKNOWN) {
    const m = EMBEDDED_CODE.exec(details);
    if (m) {
      const upstreamCode = m[1]!;
      const msg = EMBEDDED_MESSAGE.exec(details.slice(m.index))?.[1] ?? details;
      return { code: statusOfErrorCode(upstreamCode), message: msg, upstreamCode };
    }
  }
  return { code: statusFromPeer(err.code, details), message: details || Status[err.code] || "upstream error" };
}

/** True when the Executor answered "no such task" rather than failing. */
export function isNotFound(err: unknown): boolean {
  return classifyUpstreamError(err).code === Status.NOT_FOUND;
}
