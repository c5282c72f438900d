/**
 * Executors answer with plain errors: gRPC UNKNOWN whose message often embeds
 * `{"code":"XDAT0004","message":"..."}` (spec §7). This maps them to real status codes.
 */
import { status as Status, type ServiceError } from "@grpc/grpc-js";

const CODE_MAP: ReadonlyMap<string, Status> = new Map([
  ["XDAT0004", Status.NOT_FOUND],
  ["PX0004", Status.NOT_FOUND],
  ["XDAT0002", Status.INVALID_ARGUMENT],
  ["PX0002", Status.INVALID_ARGUMENT],
  ["XDAT0008", Status.UNAUTHENTICATED],
  ["XDAT0006", Status.PERMISSION_DENIED],
  ["XDAT0001", Status.INTERNAL],
  ["PX0001", Status.INTERNAL],
]);

export interface UpstreamFailure {
  /** The status the gateway should report for this failure. */
  code: Status;
  /** A short, client-safe description. */
  message: string;
  /** The Executor's own error code (e.g. XDAT0004), if it sent one. */
  upstreamCode?: string;
}

const EMBEDDED_CODE = /"code"\s*:\s*"([A-Z]+[0-9]+)"/;
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
      const msg = EMBEDDED_MESSAGE.exec(details)?.[1] ?? details;
      return { code: CODE_MAP.get(upstreamCode) ?? Status.UNKNOWN, message: msg, upstreamCode };
    }
    if (/not\s*found|not exist/i.test(details)) return { code: Status.NOT_FOUND, message: details };
  }
  return { code: err.code, message: details || Status[err.code] || "upstream error" };
}

/** True when the Executor answered "no such task" rather than failing. */
export function isNotFound(err: unknown): boolean {
  return classifyUpstreamError(err).code === Status.NOT_FOUND;
}
