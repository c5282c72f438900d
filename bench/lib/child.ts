/**
 * Bench processes: the gateway, simulated Executors and baselines each run in a child
 * process of their own, so the load generator and the Executors never share a CPU
 * account with the process being measured.
 */
import { fork, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export interface WorkerReply {
  type: string;
  [k: string]: unknown;
}

export class Worker {
  private readonly waiting: ((m: WorkerReply) => void)[] = [];
  private exited = false;

  private constructor(readonly proc: ChildProcess) {
    proc.on("message", (m: WorkerReply) => {
      const w = this.waiting.shift();
      if (w) w(m);
    });
    proc.on("exit", () => {
      this.exited = true;
      for (const w of this.waiting.splice(0)) w({ type: "error", message: "worker exited" });
    });
  }

  /** Where the worker's stdout (the gateway's pino log) goes. */
  logFile = "";

  /** Forks `bench/workers/<name>.js` (compiled) with extra node flags such as --cpu-prof. */
  static start(name: string, execArgv: string[] = []): Worker {
    const file = path.join(__dirname, "..", "workers", `${name}.js`);
    // Logs go to a temp file (kept for diagnosis): the gateway pays for writing them as in production.
    const logFile = path.join(mkdtempSync(path.join(os.tmpdir(), `dai-bench-${name}-`)), "stdout.log");
    const fd = openSync(logFile, "w");
    const proc = fork(file, [], { execArgv, stdio: ["ignore", fd, "inherit", "ipc"] });
    closeSync(fd);
    const w = new Worker(proc);
    w.logFile = logFile;
    return w;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Sends a command and waits for the worker's reply; a reply of type "error" rejects. */
  request<T extends WorkerReply>(msg: Record<string, unknown>, timeoutMs = 120_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error("worker exited"));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker timeout on ${String(msg.type)}`)), timeoutMs);
      this.waiting.push((m) => {
        clearTimeout(timer);
        if (m.type === "error") reject(new Error(String(m.message)));
        else resolve(m as T);
      });
      this.proc.send(msg);
    });
  }

  /** Asks the worker to exit cleanly (so --cpu-prof writes its profile); kills it if it does not. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.proc.once("exit", () => resolve()));
    this.proc.send({ type: "stop" });
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 15_000);
    await done;
    clearTimeout(timer);
  }
}
