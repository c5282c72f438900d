/**
 * Deadlines of calls whose client sent none — the stock PaddleDTX clients never send
 * one (spec §8), and against an Executor their calls simply wait. The gateway still
 * bounds every call, but by default with the longest its own work can take, so that no
 * call fails for a deadline its client never asked for (README "Deadlines"):
 *
 * - ListTask / GetTaskById: every discovery round asks at most `maxExecutors`
 *   Executors, `concurrency` at a time (0: `maxUpstreamCalls`), each call bounded by
 *   `callTimeoutMs`, so a fan-out ends by itself within (discoveryRounds + 1) ×
 *   ⌈maxExecutors / concurrency⌉ × callTimeoutMs (plus a margin to reply). `api.defaultDeadlineMs` > 0 overrides it.
 * - GetPredictResult: two task loads (the prediction task, its model task), each such a
 *   fan-out, then the relay, where the label holder and one fallback each get a whole
 *   `predict.callTimeoutMs`. `predict.defaultDeadlineMs` > 0 overrides it (never below
 *   `predict.callTimeoutMs`: the schema refuses that).
 */
import type { GatewayConfig } from "./schema";

/** Time to merge and send a reply once the work is done. */
export const REPLY_MARGIN_MS = 1000;

export interface DefaultDeadlines {
  /** ListTask and GetTaskById (gRPC and HTTP), and background cache revalidation. */
  defaultDeadlineMs: number;
  /** GetPredictResult (gRPC and HTTP). */
  predictDeadlineMs: number;
}

export function fanoutBoundMs(e: GatewayConfig["executors"]): number {
  // Calls at once in one round: `concurrency`, or with no per-fan-out bound the gateway-wide one.
  const atOnce = e.concurrency > 0 ? e.concurrency : e.maxUpstreamCalls;
  return (e.discoveryRounds + 1) * Math.ceil(e.maxExecutors / atOnce) * e.callTimeoutMs + REPLY_MARGIN_MS;
}

export function defaultDeadlines(c: Pick<GatewayConfig, "api" | "executors" | "predict">): DefaultDeadlines {
  const defaultDeadlineMs = c.api.defaultDeadlineMs > 0 ? c.api.defaultDeadlineMs : fanoutBoundMs(c.executors);
  const predictDeadlineMs =
    c.predict.defaultDeadlineMs > 0
      ? c.predict.defaultDeadlineMs
      : 2 * defaultDeadlineMs + 2 * c.predict.callTimeoutMs + REPLY_MARGIN_MS;
  return { defaultDeadlineMs, predictDeadlineMs };
}
