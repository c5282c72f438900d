/** Keeps the event loop busy for `ms`: CPU a handler (or a saturated gateway) would spend. */
export function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spinning
  }
}
