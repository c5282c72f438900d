/**
 * Task status lifecycle (spec §3): Confirming -> Ready -> ToProcess -> Processing ->
 * Finished | Failed, and Rejected from Confirming. Terminal statuses never change.
 */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(["Finished", "Failed", "Rejected"]);
export const KNOWN_STATUSES = [
  "Confirming",
  "Ready",
  "ToProcess",
  "Processing",
  "Finished",
  "Failed",
  "Rejected",
] as const;

const RANK: ReadonlyMap<string, number> = new Map([
  ["Confirming", 0],
  ["Ready", 1],
  ["ToProcess", 2],
  ["Processing", 3],
  ["Finished", 4],
  ["Failed", 4],
  ["Rejected", 4],
]);

/** How far along the lifecycle a status is; unknown statuses rank below every known one. */
export function statusRank(status: string): number {
  return RANK.get(status) ?? -1;
}

export function isTerminal(status: string): boolean {
  return TERMINAL_STATUSES.has(status);
}
