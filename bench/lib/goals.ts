/**
 * The goals table of issue 15 ("Performance at the physical limit"): every row with the
 * figure the issue measured ("today") next to this run's figure. Scenarios report the
 * figures they measured under a goal id; a goal no scenario of this run measured is
 * printed as "not measured" (e.g. N = 500 in a --quick run).
 */
import { checkTarget } from "./stats";

export type GoalId = "cpuPerReply" | "p50n100" | "p50n500" | "cachedList" | "predictThroughput" | "predictMemory";

export interface GoalDef {
  id: GoalId;
  measure: string;
  today: string;
  /** Target on `value` (e.g. "<= 400"). */
  goal: string;
  unit: string;
}

export const GOALS: readonly GoalDef[] = [
  { id: "cpuPerReply", measure: "CPU per upstream 100-task reply", today: "1,362 µs", goal: "<= 400", unit: "µs" },
  { id: "p50n100", measure: "p50 ÷ L, N = 100, 100-task replies", today: "3.2", goal: "<= 1.5", unit: "" },
  { id: "p50n500", measure: "p50 ÷ L, N = 500, 100-task replies", today: "13.7–17", goal: "<= 4", unit: "" },
  { id: "cachedList", measure: "cached ListTask ÷ bare grpc-js, same bytes", today: "0.48", goal: ">= 1.0", unit: "" },
  {
    id: "predictThroughput",
    measure: "GetPredictResult 64 MiB throughput ÷ owner direct",
    today: "0.45",
    goal: ">= 0.75",
    unit: "",
  },
  {
    id: "predictMemory",
    measure: "resident memory per 64 MiB result in flight ÷ payload",
    today: "2.97",
    goal: "<= 0.1",
    unit: "",
  },
];

/** One scenario's figure for a goal. */
export interface GoalFigure {
  /** The number the goal's target is about. */
  value: number;
  /** How it was measured, with the same run's baseline it is a ratio against. */
  detail: string;
  /** Extra figures (e.g. the slow-reader memory, the model for remote Executors). */
  note?: string;
}

export type GoalFigures = Partial<Record<GoalId, GoalFigure>>;

function fmt(v: number, unit: string): string {
  if (!Number.isFinite(v)) return "n/a";
  const s = unit === "µs" ? Math.round(v).toLocaleString("en-US") : String(+v.toPrecision(3));
  return unit ? `${s} ${unit}` : s;
}

export function renderGoals(figures: GoalFigures, quick: boolean): string[] {
  const out = [
    "## Goals of issue 15",
    "",
    "| measure | today (issue 15) | this run | goal | met | how (baseline of this run) |",
    "|---|---|---|---|---|---|",
  ];
  for (const g of GOALS) {
    const f = figures[g.id];
    const cell = (s: string): string => s.replace(/\|/g, "\\|");
    if (!f) {
      out.push(`| ${g.measure} | ${g.today} | not measured${quick ? " (--quick)" : ""} | ${g.goal} ${g.unit} |  |  |`);
      continue;
    }
    const met = checkTarget(f.value, g.goal) ? "yes" : "**no**";
    out.push(
      `| ${g.measure} | ${g.today} | ${fmt(f.value, g.unit)} | ${g.goal} ${g.unit} | ${met} | ${cell(f.detail)}${f.note ? `; ${cell(f.note)}` : ""} |`,
    );
  }
  out.push("");
  return out;
}
