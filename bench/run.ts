/**
 * `npm run bench [-- --quick] [-- --only s1,s3] [-- --profile]`: runs the scenarios of
 * issues 8 and 15 and writes bench/results/<date>[-quick].{json,md} plus SVG plots. Every figure
 * is a ratio against a baseline measured in the same run, on the machine recorded.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { hasCommand, machineInfo } from "./lib/machine";
import { summarizeProfiles } from "./lib/profile";
import { renderMarkdown, type RunReport, type ScenarioResult } from "./lib/report";
import { resultsPath, type BenchOptions } from "./lib/setup";
import { cachedList } from "./scenarios/s1-cached-list";
import { fanout } from "./scenarios/s2-fanout";
import { predictRelay } from "./scenarios/s3-predict";
import { mergeCost } from "./scenarios/s4-merge";
import { memory } from "./scenarios/s5-memory";
import { overload } from "./scenarios/s6-overload";
import { transportCost } from "./scenarios/s7-transport";
import { reduceCost } from "./scenarios/s8-reduce";

type Scenario = (opts: BenchOptions, date: string) => Promise<ScenarioResult>;

const SCENARIOS: Record<string, { needs: string[]; run: Scenario }> = {
  s1: { needs: ["h2load"], run: cachedList },
  s2: { needs: ["h2load"], run: fanout },
  s3: { needs: ["h2load"], run: predictRelay },
  s4: { needs: [], run: mergeCost },
  s5: { needs: ["h2load"], run: memory },
  s6: { needs: ["h2load"], run: overload },
  s7: { needs: [], run: transportCost },
  s8: { needs: [], run: reduceCost },
};

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function gitCommit(): string | undefined {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return undefined;
  }
}

async function main(argv: string[]): Promise<number> {
  const quick = argv.includes("--quick");
  const profile = argv.includes("--profile");
  const onlyArg = argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
  const only = onlyArg ? onlyArg.split(",") : Object.keys(SCENARIOS);
  for (const id of only)
    if (!SCENARIOS[id]) throw new Error(`unknown scenario ${id} (have ${Object.keys(SCENARIOS).join(", ")})`);

  const missing = ["h2load", "nginx"].filter((c) => !hasCommand(c));
  if (missing.includes("h2load") && only.some((id) => SCENARIOS[id]!.needs.includes("h2load"))) {
    process.stderr.write(
      "bench: h2load (the load generator) is not installed.\n" +
        "  Install it with: apt-get install -y nghttp2-client nginx\n",
    );
    return 2;
  }
  if (missing.includes("nginx")) {
    log("nginx is not installed: scenario 3 runs without its grpc_pass anchor (apt-get install -y nginx)");
  }

  // A partial run (--only) must not overwrite the full run's files.
  const date = new Date().toISOString().slice(0, 10) + (quick ? "-quick" : "") + (onlyArg ? `-${only.join("-")}` : "");
  const outDir = resultsPath();
  mkdirSync(outDir, { recursive: true });
  const profileDir = profile ? mkdtempSync(path.join(os.tmpdir(), "dai-bench-prof-")) : undefined;
  const opts: BenchOptions = { quick, profileDir, log };
  const report: RunReport = { date, quick, machine: machineInfo(), gitCommit: gitCommit(), scenarios: [] };
  log(`machine: ${report.machine.nproc} CPUs, ${report.machine.cpuModel}, node ${report.machine.node}`);
  const started = Date.now();
  let failed = 0;
  for (const id of only) {
    const t0 = Date.now();
    log(`${id}: start`);
    try {
      report.scenarios.push(await SCENARIOS[id]!.run(opts, date));
    } catch (err) {
      failed++;
      log(`${id}: FAILED: ${(err as Error).stack ?? String(err)}`);
      report.scenarios.push({
        id,
        title: id,
        rows: [],
        data: { error: String(err) },
        charts: [],
        notes: [`FAILED: ${String(err)}`],
      });
    }
    log(`${id}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  // The CPU-per-reply goal against this run's floor: node:http2 framing alone (scenario 7).
  const floor = (report.scenarios.find((s) => s.id === "s7")?.data as { floorUsPerCall?: number } | undefined)
    ?.floorUsPerCall;
  for (const s of report.scenarios) {
    const g = s.goals?.cpuPerReply;
    if (g && floor)
      g.detail += `; = ${(g.value / floor).toFixed(2)} × this run's node:http2 floor (${floor.toFixed(0)} µs per call, scenario 7)`;
  }
  for (const s of report.scenarios) for (const c of s.charts) writeFileSync(path.join(outDir, c.file), c.svg);
  writeFileSync(
    path.join(outDir, `${date}.json`),
    JSON.stringify(report, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2) + "\n",
  );
  const md = renderMarkdown(report);
  writeFileSync(path.join(outDir, `${date}.md`), md);
  if (profileDir) {
    const summary = summarizeProfiles(profileDir);
    writeFileSync(path.join(outDir, `${date}-profile.md`), summary);
    log(`profiles in ${profileDir}; summary in bench/results/${date}-profile.md`);
  }
  process.stdout.write(md + "\n");
  log(`total ${((Date.now() - started) / 1000).toFixed(1)} s; wrote bench/results/${date}.{json,md}`);
  return failed > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exit(1);
  },
);
