/** Deadlines for upstream calls that fit inside the client's. */

/**
 * Time kept back from the client's deadline to merge and send the reply: the server
 * learns the deadline late (it travels as a relative timeout) and timers fire late
 * under load, so a few tens of milliseconds are not enough.
 */
export function replyMargin(remainingMs: number): number {
  return Math.min(500, Math.max(0, remainingMs * 0.2));
}

export function upstreamDeadline(callDeadline: number, callTimeoutMs: number, now = Date.now()): Date {
  const remaining = callDeadline - now;
  return new Date(Math.min(now + callTimeoutMs, callDeadline - replyMargin(remaining)));
}
