import pino, { type Logger } from "pino";

/** A logger that records lines in memory (tests assert on state-change logs). */
export function memoryLogger(level = "info"): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level },
    {
      write(s: string) {
        lines.push(JSON.parse(s) as Record<string, unknown>);
      },
    },
  );
  return { log, lines };
}
