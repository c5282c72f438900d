/**
 * Settings of the V8 heap the gateway runs on (`runtime.*`), applied once at start.
 *
 * `runtime.heapGrowingPercent` (V8's --heap-growing-percent): how far the old generation
 * may grow past what survived the last mark-compact before the next one. V8's own choice
 * on a lightly loaded heap is up to 4×, and node:http2 fills the old generation fast
 * whatever the gateway does: every non-static header value of every request is an
 * external string allocated there, and a stream's objects live past two scavenges at
 * high rates (a bare node:http2 server at 24,000 calls/s promotes 22 MB/s). With V8's
 * factor, the gateway's mark-compacts came every ~2 s at 2× load, each 30–160 ms of
 * pause (finalizing ~10^5 external strings and compacting 100 MB of garbage): 8–16 × the
 * unloaded p99 for admitted calls. At 50 % they come every ~0.5 s and pause 10–33 ms
 * (bench/scenarios/s6-overload.ts), for ~3 % more of a core in GC.
 */
import v8 from "node:v8";

export interface RuntimeSettings {
  /** 0: V8's own factor. */
  heapGrowingPercent: number;
}

export function applyRuntimeSettings(s: RuntimeSettings): void {
  if (s.heapGrowingPercent > 0) v8.setFlagsFromString(`--heap-growing-percent=${s.heapGrowingPercent}`);
}
