/** Deadlines for upstream calls that fit inside the client's. */

/** Time kept back from the client's deadline to merge and send the reply. */
export function replyMargin(remainingMs: number): number {
  return Math.min(50, Math.max(0, remainingMs * 0.1));
}

export function upstreamDeadline(callDeadline: number, callTimeoutMs: number, now = Date.now()): Date {
  const remaining = callDeadline - now;
  return new Date(Math.min(now + callTimeoutMs, callDeadline - replyMargin(remaining)));
}
