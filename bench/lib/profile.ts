/** Summarises V8 .cpuprofile files (from --cpu-prof): where the gateway spends its own time. */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
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

export function topSelf(file: string, top = 15): HotFunction[] {
  const prof = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
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
    out.push(`## ${f}`, "", "| self % | function | where |", "|---|---|---|");
    for (const h of topSelf(path.join(dir, f))) out.push(`| ${h.selfPct.toFixed(1)} | ${h.fn} | ${h.where} |`);
    out.push("");
  }
  return out.join("\n");
}
