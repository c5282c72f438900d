/**
 * "Did the Executor answer?", defined once. Every call to an Executor — fan-out,
 * prediction relay, status probe — ends in one of these outcomes, and everything that
 * judges an Executor (its circuit, `/v1/executors`, the metrics) reads them:
 *
 * | kind          | meaning                                                        | circuit  | healthy |
 * |---------------|----------------------------------------------------------------|----------|---------|
 * | `answered`    | a usable reply                                                 | success  | yes     |
 * | `not-found`   | the Executor answered "no such task/result" (10004, XDAT0004…) | success  | yes     |
 * | `rejected`    | the Executor answered with an application error (bad argument, not authorized, …) | success | yes |
 * | `unreachable` | no answer: connection failed (UNAVAILABLE) or it timed out with a fair deadline | failure | no |
 * | `failed`      | an answer that is no use: malformed, over the size limit, an internal error | failure | no |
 * | `circuit-open`| not called: its circuit is open                                | —        | —       |
 * | `shortfall`   | not the Executor's doing: our client went away (`cancelled`), too little of the client's deadline was left (`no-time`), the call waited too long for a slot (`queued`), it timed out while the gateway's own event loop was stalled for a quarter of the call or more (`overloaded`), or the address may not be connected to (`refused-address`) | neutral | — |
 */
import { cleanGrpcDetails, shortText } from "./grpc-text";
import { status as Status } from "@grpc/grpc-js";
import type { UpstreamMethod } from "../wire/facts";
import { RefusedAddressError } from "./connect";
import { classifyUpstreamError } from "./errors";

export type OutcomeKind =
  "answered" | "not-found" | "rejected" | "unreachable" | "failed" | "circuit-open" | "shortfall";

/** A gateway-side reason a call did not get an answer (issue 14: never blamed on the Executor). */
export type Shortfall = "cancelled" | "no-time" | "queued" | "overloaded" | "refused-address";

export interface OutcomeInfo {
  address: string;
  method: UpstreamMethod;
  /** The status the call ended with (OK when answered); classified (UNKNOWN + 10004 is NOT_FOUND). */
  code: Status;
  /** The status as it came off the wire (UNKNOWN for an Executor's plain error; OK for a reply that did not decode). */
  wireCode: Status;
  /** Short, client-safe description (never payload). */
  message: string;
  /** The Executor's own error code (e.g. 10004, XDAT0004), when it sent one. */
  upstreamCode?: string;
  shortfall?: Shortfall;
  /** True when a request went out on the wire. */
  sent: boolean;
  durationMs: number;
}

export type Outcome<T> =
  (OutcomeInfo & { kind: "answered"; value: T }) | (OutcomeInfo & { kind: Exclude<OutcomeKind, "answered"> });

/** An outcome without its value: what observers (metrics, status) see. */
export type OutcomeEvent = OutcomeInfo & { kind: OutcomeKind };

/** The Executor answered (with data, "not found", or an application error): it is up. */
export function isHealthy(kind: OutcomeKind): boolean {
  return kind === "answered" || kind === "not-found" || kind === "rejected";
}

/** What the outcome means for the Executor's circuit. */
export function verdict(kind: OutcomeKind): "success" | "failure" | "neutral" {
  if (isHealthy(kind)) return "success";
  if (kind === "unreachable" || kind === "failed") return "failure";
  return "neutral";
}

const REJECTED = new Set([
  Status.INVALID_ARGUMENT,
  Status.PERMISSION_DENIED,
  Status.UNAUTHENTICATED,
  Status.FAILED_PRECONDITION,
  Status.ALREADY_EXISTS,
  Status.OUT_OF_RANGE,
]);

export interface Classified {
  kind: Exclude<OutcomeKind, "answered" | "circuit-open">;
  code: Status;
  wireCode: Status;
  message: string;
  upstreamCode?: string;
  shortfall?: Shortfall;
  sent: boolean;
}

/**
 * Classifies a failed call. `aborted`: our caller cancelled it; `cutShort`: its
 * deadline was cut by the client's (less than a fair share of the call timeout), so a
 * timeout says nothing about the Executor; `overloaded`: the gateway's event loop was
 * stalled for much of the call, so neither a timeout nor a lost connection (keepalive)
 * can be blamed on the Executor.
 */
export function classifyFailure(
  err: unknown,
  ctx: { aborted: boolean; cutShort: boolean; overloaded?: boolean },
): Classified {
  if (err instanceof RefusedAddressError) {
    return {
      kind: "shortfall",
      shortfall: "refused-address",
      code: Status.UNAVAILABLE,
      wireCode: Status.UNAVAILABLE,
      message: err.message.slice(0, 200),
      sent: false,
    };
  }
  const f = classifyUpstreamError(err);
  // In words for people (reports, LAST ERROR, logs): grpc-js's framing cleaned, cut at a word.
  const message = shortText(cleanGrpcDetails(f.message), 200);
  const raw = (err as { code?: unknown })?.code;
  const wireCode = typeof raw === "number" ? (raw as Status) : Status.INTERNAL;
  const base = { code: f.code, wireCode, message, upstreamCode: f.upstreamCode, sent: true };
  if (ctx.aborted || f.code === Status.CANCELLED) {
    return { ...base, code: Status.CANCELLED, kind: "shortfall", shortfall: "cancelled" };
  }
  if (f.code === Status.NOT_FOUND) return { ...base, kind: "not-found" };
  if (f.code === Status.DEADLINE_EXCEEDED && ctx.cutShort) return { ...base, kind: "shortfall", shortfall: "no-time" };
  if ((f.code === Status.DEADLINE_EXCEEDED || f.code === Status.UNAVAILABLE) && ctx.overloaded) {
    return { ...base, kind: "shortfall", shortfall: "overloaded" };
  }
  if (f.code === Status.UNAVAILABLE || f.code === Status.DEADLINE_EXCEEDED) return { ...base, kind: "unreachable" };
  if (REJECTED.has(f.code)) return { ...base, kind: "rejected" };
  return { ...base, kind: "failed" };
}

/** A one-line reason for reports and logs ("circuit open", "malformed reply: …", the Executor's message). */
export function describeOutcome(o: OutcomeInfo & { kind: OutcomeKind }): string {
  if (o.kind === "circuit-open") return "circuit open";
  return o.message;
}

/** What an outcome says about the Executor's membership (src/upstream/registry.ts `observe`). */
export function liveness(kind: OutcomeKind): "answered" | "failed" | "neutral" {
  if (isHealthy(kind)) return "answered";
  // An open circuit is the Executor still failing: the run of failures goes on.
  if (kind === "unreachable" || kind === "failed" || kind === "circuit-open") return "failed";
  return "neutral";
}
