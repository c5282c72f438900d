/** Results of one bench run: rows of "figure ÷ baseline", rendered as JSON and a Markdown table. */
import { renderGoals, type GoalFigures } from "./goals";
import type { MachineInfo } from "./machine";
import { checkTarget } from "./stats";

export interface Row {
  scenario: string;
  /** What was measured, e.g. "p50 latency, N = 100". */
  measure: string;
  gateway: string;
  baseline: string;
  /** The figure that the target is about (gateway ÷ baseline). */
  ratio: number;
  /** e.g. ">= 0.8"; empty: no target, reported for information. */
  target?: string;
  met?: boolean;
  note?: string;
}

export interface ScenarioResult {
  id: string;
  title: string;
  rows: Row[];
  /** Raw measurements, kept in the JSON. */
  data: unknown;
  charts: { file: string; title: string; svg: string }[];
  notes: string[];
  /** Figures for rows of issue 15's goals table. */
  goals?: GoalFigures;
}

export interface RunReport {
  date: string;
  quick: boolean;
  machine: MachineInfo;
  gitCommit?: string;
  scenarios: ScenarioResult[];
}

export { checkTarget };

export function row(r: Omit<Row, "met">): Row {
  return { ...r, met: r.target ? checkTarget(r.ratio, r.target) : undefined };
}

function cell(s: string | number | undefined): string {
  return String(s ?? "").replace(/\|/g, "\\|");
}

export function renderMarkdown(rep: RunReport): string {
  const m = rep.machine;
  const out: string[] = [];
  out.push(
    `# dai-gateway benchmarks, ${rep.date}${rep.quick ? " (quick run)" : ""}`,
    "",
    `Machine: ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB RAM, Node ${m.node}, Linux ${m.kernel}` +
      `${m.h2load ? `, ${m.h2load}` : ""}${m.nginx ? `, nginx ${m.nginx}` : ""}` +
      `${rep.gitCommit ? `; commit ${rep.gitCommit}` : ""}.`,
    "",
    "Every ratio divides the gateway's figure by a baseline measured in the same run.",
    "",
    ...renderGoals(Object.assign({}, ...rep.scenarios.map((s) => s.goals ?? {})) as GoalFigures, rep.quick),
    "## All rows",
    "",
    "| scenario | measure | gateway | baseline | ratio | target | met |",
    "|---|---|---|---|---|---|---|",
  );
  for (const s of rep.scenarios) {
    for (const r of s.rows) {
      const met = r.met === undefined ? "" : r.met ? "yes" : "**no**";
      out.push(
        `| ${cell(r.scenario)} | ${cell(r.measure)} | ${cell(r.gateway)} | ${cell(r.baseline)} | ${cell(
          Number.isFinite(r.ratio) ? +r.ratio.toPrecision(3) : "n/a",
        )} | ${cell(r.target)} | ${met} |`,
      );
    }
  }
  out.push("");
  for (const s of rep.scenarios) {
    if (s.notes.length === 0 && s.charts.length === 0) continue;
    out.push(`## ${s.title}`, "");
    for (const n of s.notes) out.push(`- ${n}`);
    if (s.notes.length) out.push("");
    for (const c of s.charts) out.push(`![${c.title}](${c.file})`, "");
  }
  return out.join("\n");
}
