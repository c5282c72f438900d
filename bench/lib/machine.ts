/** What machine a run was measured on: shared, noisy machines make absolute numbers meaningless alone. */
import { readFileSync } from "node:fs";
import os from "node:os";
import { execFileSync } from "node:child_process";

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  kernel: string;
  h2load?: string;
  nginx?: string;
}

function tryRun(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  } catch (err) {
    // `nginx -v` prints to stderr.
    const e = err as { stderr?: string };
    return e.stderr?.trim() || undefined;
  }
}

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export function machineInfo(): MachineInfo {
  let cpuModel = os.cpus()[0]?.model ?? "unknown";
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m?.[1]) cpuModel = m[1].trim();
  } catch {
    // Not Linux: os.cpus() is good enough.
  }
  const nginx = hasCommand("nginx") ? tryRun("nginx", ["-v"]) : undefined;
  const h2load = hasCommand("h2load") ? tryRun("h2load", ["--version"])?.split("\n")[0] : undefined;
  return {
    nproc: os.availableParallelism(),
    cpuModel,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: os.release(),
    h2load,
    nginx: nginx?.replace(/^nginx version:\s*/, ""),
  };
}
