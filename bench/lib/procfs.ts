/** CPU time and resident memory of another process, read from /proc (Linux). */
import { readFileSync } from "node:fs";

const CLK_TCK = 100;

/** User + system CPU time of a process, in milliseconds (10 ms resolution). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return ((utime + stime) * 1000) / CLK_TCK;
}

/** The whole machine's CPU time since boot, in clock ticks (/proc/stat): busy and all. */
export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  // idle and iowait are fields 4 and 5.
  return { busy: total - f[3]! - f[4]!, total };
}

function statusKiB(pid: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

/** Resident set size in MiB. */
export function rssMiB(pid: number): number {
  return statusKiB(pid, "VmRSS") / 1024;
}

/** Samples a process's RSS at an interval; `stop()` returns the samples (ms since start, MiB). */
export function sampleRss(pid: number, intervalMs = 100): { stop(): { t: number; mib: number }[]; peak(): number } {
  const started = Date.now();
  const samples: { t: number; mib: number }[] = [];
  const take = (): void => {
    try {
      samples.push({ t: Date.now() - started, mib: rssMiB(pid) });
    } catch {
      // The process exited: keep what we have.
    }
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
    peak() {
      return samples.reduce((m, s) => Math.max(m, s.mib), 0);
    },
  };
}
