/** Terminal formatting for the person-facing commands: local dates, tables, CSV. */

const pad2 = (n: number): string => String(n).padStart(2, "0");

/** Unix-ns time as a local date-time ("2026-11-28 14:05:09"); "-" for 0 (not yet). */
export function localTime(ns: bigint): string {
  if (ns === 0n) return "-";
  const d = new Date(Number(ns / 1_000_000n));
  return (
    `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
  );
}

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/;

/**
 * A local date-time ("2026-11-28", "2026-11-28 14:05", "2026-11-28T14:05:09") as
 * Unix ns; an ISO time with a zone ("...Z", "+08:00") is taken as written. With
 * `endOfDay`, a date alone is the end of that day (for --end: "2026-11-28" includes the 28th).
 */
export function parseLocalTime(s: string, flag: string, opts: { endOfDay?: boolean } = {}): bigint {
  const m = LOCAL.exec(s.trim());
  let ms: number;
  if (m) {
    const [y, mo, d, h, mi, sec] = m.slice(1).map((x) => (x === undefined ? 0 : Number(x))) as number[];
    const date = new Date(y!, mo! - 1, d!, h!, mi!, sec!);
    if (date.getMonth() !== mo! - 1 || date.getDate() !== d!) throw new Error(`${flag}: no such date: ${s}`);
    // An end given as a date alone means the whole day: up to the last nanosecond before the next midnight.
    if (opts.endOfDay && m[4] === undefined) return BigInt(new Date(y!, mo! - 1, d! + 1).getTime()) * 1_000_000n - 1n;
    ms = date.getTime();
  } else if (/^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:\d{2})$/.test(s.trim())) {
    ms = Date.parse(s.trim());
  } else ms = NaN;
  if (!Number.isFinite(ms)) throw new Error(`${flag}: expected a local date-time like 2026-11-28 14:05:09, got "${s}"`);
  return BigInt(ms) * 1_000_000n;
}

export function shortHex(b: Uint8Array, chars = 16): string {
  if (b.length === 0) return "-";
  const h = Buffer.from(b).toString("hex");
  return h.length <= chars ? h : `${h.slice(0, chars)}…`;
}

/** Left-aligned columns separated by two spaces; the header row first. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

/** RFC 4180 CSV (quoted when needed, CRLF line ends). */
export function toCsv(rows: readonly (readonly unknown[])[]): string {
  const cell = (v: unknown): string => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return rows.map((r) => r.map(cell).join(",")).join("\r\n") + "\r\n";
}
