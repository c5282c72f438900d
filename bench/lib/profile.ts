/**
 * Summaries of V8 .cpuprofile files: the hottest functions (self time), and the gateway's
 * time by category — transport (grpc-js, node:http2, sockets), decode (src/wire, src/gen),
 * merge/screen/sort/discovery (src/merge, src/fanout, src/cache, src/upstream registry),
 * GC on the main thread, and the rest. A frame without a script (a native builtin) counts
 * for the nearest ancestor that has one.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotFunction {
  fn: string;
  where: string;
  selfPct: number;
}

export const CATEGORIES = ["transport", "decode", "merge", "gc", "other"] as const;
export type Category = (typeof CATEGORIES)[number];

export const CATEGORY_LABELS: Record<Category, string> = {
  transport: "transport (grpc-js / own transport, node:http2, sockets)",
  decode: "decode (src/wire, src/gen)",
  merge: "merge, screen, sort, discovery (src/merge, src/fanout, src/cache, src/upstream)",
  gc: "GC (main thread)",
  other: "other (serving, logging, metrics, runtime)",
};

function frameCategory(name: string, url: string): Category | undefined {
  if (name === "(garbage collector)") return "gc";
  if (name === "(program)") return "other";
  if (!url) return undefined;
  if (
    /@grpc\/grpc-js|nice-grpc|\/src\/transport\/|\/src\/upstream\/pool|node:internal\/http2|node:http2|node:net|node:internal\/stream_base|node:internal\/streams|node:internal\/tls|node:_tls|node:tls/.test(
      url,
    )
  )
    return "transport";
  if (/\/src\/wire\/|\/src\/gen\//.test(url)) return "decode";
  if (/\/src\/(merge|fanout|cache)\/|\/src\/upstream\//.test(url)) return "merge";
  // Generic Node internals (buffers, events, timers, microtasks) count for their caller.
  if (url.startsWith("node:")) return undefined;
  return "other";
}

/**
 * A finer split of the same samples, for the CPU-per-reply goal (issue 15): what is the
 * node:http2 floor, what is ours per call, per task copy and per fan-out. Same rule: a
 * frame that matches nothing counts for its nearest ancestor that does.
 */
export const PARTS = [
  "node:http2, streams, sockets",
  "own transport (src/transport/client.ts)",
  "grpc-js",
  "scan and decode (src/wire)",
  "merge, screen, select (src/merge, src/fanout/reduce.ts)",
  "discovery (src/fanout/discovery-pass.ts, registry offer)",
  "fan-out bookkeeping (src/fanout/task-fanout.ts, p-limit)",
  "upstream client per call (executor-client, outcome, circuit, connect, metrics, status)",
  "cache (src/cache)",
  "serving (src/api, src/transport/server.ts)",
  "logging (pino)",
  "GC (main thread)",
  "runtime (microtasks, timers, program)",
  "profiler itself (inspector)",
] as const;
export type Part = (typeof PARTS)[number];

function framePart(name: string, url: string): Part | undefined {
  if (name === "(garbage collector)") return "GC (main thread)";
  if (name === "(program)") return "runtime (microtasks, timers, program)";
  if (!url) return undefined;
  if (/node:inspector|bench\/workers\//.test(url)) return "profiler itself (inspector)";
  if (/\/src\/transport\/client/.test(url)) return "own transport (src/transport/client.ts)";
  if (/\/src\/transport\/server|\/src\/api\//.test(url)) return "serving (src/api, src/transport/server.ts)";
  if (/@grpc\/grpc-js|nice-grpc|\/src\/upstream\/pool/.test(url)) return "grpc-js";
  if (
    /node:internal\/http2|node:http2|node:net|node:internal\/stream_base|node:internal\/streams|node:internal\/tls|node:_tls|node:tls/.test(
      url,
    )
  )
    return "node:http2, streams, sockets";
  if (/\/src\/wire\/|\/src\/gen\//.test(url)) return "scan and decode (src/wire)";
  if (/\/src\/fanout\/discovery-pass|\/src\/upstream\/registry/.test(url))
    return "discovery (src/fanout/discovery-pass.ts, registry offer)";
  if (/\/src\/merge\/|\/src\/fanout\/reduce/.test(url))
    return "merge, screen, select (src/merge, src/fanout/reduce.ts)";
  if (/\/src\/fanout\/|p-limit/.test(url)) return "fan-out bookkeeping (src/fanout/task-fanout.ts, p-limit)";
  if (/\/src\/upstream\/|\/src\/observability\/|prom-client|\/src\/core\/topic/.test(url))
    return "upstream client per call (executor-client, outcome, circuit, connect, metrics, status)";
  if (/\/src\/cache\//.test(url)) return "cache (src/cache)";
  if (/pino|sonic-boom/.test(url)) return "logging (pino)";
  if (url.startsWith("node:")) return undefined;
  return "runtime (microtasks, timers, program)";
}

/** Sampled main-thread time by PARTS in ms (idle excluded), and the total without the profiler's own share. */
export function parts(file: string): { ms: Record<Part, number>; totalMs: number } {
  const prof = load(file);
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const part = new Map<number, Part>();
  const resolve = (id: number): Part => {
    const known = part.get(id);
    if (known) return known;
    const n = byId.get(id)!;
    let c = framePart(n.callFrame.functionName, n.callFrame.url);
    if (c === undefined) {
      const p = parent.get(id);
      c = p === undefined ? "runtime (microtasks, timers, program)" : resolve(p);
    }
    part.set(id, c);
    return c;
  };
  const ms = Object.fromEntries(PARTS.map((p) => [p, 0])) as Record<Part, number>;
  let totalMs = 0;
  prof.samples.forEach((id, i) => {
    const n = byId.get(id);
    if (!n || n.callFrame.functionName === "(idle)" || n.callFrame.functionName === "(root)") return;
    const dt = (prof.timeDeltas[i] ?? 0) / 1000;
    const p = resolve(id);
    ms[p] += dt;
    if (p !== "profiler itself (inspector)") totalMs += dt;
  });
  return { ms, totalMs };
}

function load(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
}

/** Sampled main-thread time by category in ms (idle excluded), and the total. */
export function categorize(file: string): { ms: Record<Category, number>; totalMs: number } {
  const prof = load(file);
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const cat = new Map<number, Category>();
  const resolve = (id: number): Category => {
    const known = cat.get(id);
    if (known) return known;
    const n = byId.get(id)!;
    let c = frameCategory(n.callFrame.functionName, n.callFrame.url);
    if (c === undefined) {
      const p = parent.get(id);
      c = p === undefined ? "other" : resolve(p);
    }
    cat.set(id, c);
    return c;
  };
  const ms: Record<Category, number> = { transport: 0, decode: 0, merge: 0, gc: 0, other: 0 };
  let totalMs = 0;
  prof.samples.forEach((id, i) => {
    const n = byId.get(id);
    if (!n || n.callFrame.functionName === "(idle)" || n.callFrame.functionName === "(root)") return;
    const dt = (prof.timeDeltas[i] ?? 0) / 1000;
    ms[resolve(id)] += dt;
    totalMs += dt;
  });
  return { ms, totalMs };
}

export function topSelf(file: string, top = 15): HotFunction[] {
  const prof = load(file);
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    const n = byId.get(id);
    if (!n) return;
    const name = n.callFrame.functionName || "(anonymous)";
    if (name === "(idle)" || name === "(program)") return;
    const url = n.callFrame.url.replace(/^file:\/\//, "").replace(/.*\/(node_modules|dist)\//, "$1/");
    const k = `${name}\t${url ? `${url}:${n.callFrame.lineNumber + 1}` : "(native)"}`;
    self.set(k, (self.get(k) ?? 0) + dt);
    total += dt;
  });
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, v]) => {
      const [fn, where] = k.split("\t");
      return { fn: fn!, where: where!, selfPct: (100 * v) / total };
    });
}

export function summarizeProfiles(dir: string): string {
  const out: string[] = ["# CPU profiles of the gateway process (self time, excluding idle)", ""];
  for (const f of readdirSync(dir)
    .filter((x) => x.endsWith(".cpuprofile"))
    .sort()) {
    const file = path.join(dir, f);
    const { ms, totalMs } = categorize(file);
    out.push(`## ${f}`, "", "| category | share of sampled main-thread time |", "|---|---|");
    for (const c of CATEGORIES)
      out.push(`| ${CATEGORY_LABELS[c]} | ${totalMs > 0 ? ((100 * ms[c]) / totalMs).toFixed(1) : "0"} % |`);
    const fine = parts(file);
    out.push("", "| part (finer) | share of sampled main-thread time, profiler excluded |", "|---|---|");
    for (const p of PARTS)
      if (p !== "profiler itself (inspector)" && fine.ms[p] > 0)
        out.push(`| ${p} | ${((100 * fine.ms[p]) / fine.totalMs).toFixed(1)} % |`);
    out.push("", "| self % | function | where |", "|---|---|---|");
    for (const h of topSelf(file)) out.push(`| ${h.selfPct.toFixed(1)} | ${h.fn} | ${h.where} |`);
    out.push("");
  }
  return out.join("\n");
}
