/**
 * Load from a separate process: h2load sends framed gRPC requests over HTTP/2 and logs
 * every request's duration, from which p50/p90/p99 are computed.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { grpcFrame } from "./grpc-raw";
import { summarize, type LatencySummary } from "./stats";

export interface LoadSpec {
  /** host:port */
  target: string;
  /** e.g. /task.Task/ListTask */
  path: string;
  /** Protobuf request message (framed here). */
  message: Uint8Array;
  headers?: Record<string, string>;
  clients: number;
  streams: number;
  /** Either a request count or a duration in seconds (with a warm-up). */
  requests?: number;
  durationSec?: number;
  warmupSec?: number;
  /** Expected size of each reply message; a reply smaller than this is counted as failed. */
  expectReplyBytes?: number;
  /** Open loop: requests per second per client (h2load --rps); absent: closed loop. */
  rps?: number;
}

export interface LoadResult {
  reqPerSec: number;
  succeeded: number;
  failed: number;
  /** Replies whose HTTP/2 DATA was shorter than the expected gRPC message (gRPC errors). */
  shortReplies: number;
  /**
   * Replies that carried the whole expected message, per second of the measured window:
   * the throughput that counts (h2load's "succeeded" counts any HTTP 200, gRPC errors
   * included). Equals reqPerSec when no expected size was given.
   */
  okPerSec: number;
  latencyMs: LatencySummary;
  /** The whole h2load run as this process saw it: start-up, warm-up, measurement, teardown. */
  wallSec: number;
  /** Payload bytes per second of the measured window received (DATA frames). */
  dataBytesPerSec: number;
}

function run(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("h2load", args, { maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`h2load failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

function num(re: RegExp, s: string): number {
  const m = re.exec(s);
  return m ? Number(m[1]) : NaN;
}

export async function h2load(spec: LoadSpec): Promise<LoadResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dai-bench-h2load-"));
  try {
    const body = path.join(dir, "body");
    const log = path.join(dir, "log.tsv");
    writeFileSync(body, grpcFrame(spec.message));
    const args = [
      "-d",
      body,
      "-H",
      "content-type: application/grpc",
      "-H",
      "te: trailers",
      "-c",
      String(spec.clients),
      "-m",
      String(spec.streams),
      "-t",
      "1",
      "--log-file",
      log,
    ];
    for (const [k, v] of Object.entries(spec.headers ?? {})) args.push("-H", `${k}: ${v}`);
    if (spec.rps !== undefined) args.push("--rps", String(spec.rps));
    if (spec.durationSec !== undefined) {
      args.push("-D", String(spec.durationSec), "--warm-up-time", String(spec.warmupSec ?? 1));
    } else {
      args.push("-n", String(spec.requests ?? 100));
    }
    args.push(`http://${spec.target}${spec.path}`);
    const started = Date.now();
    const out = await run(args, 30 * 60_000);
    const wallSec = (Date.now() - started) / 1000;
    const reqPerSec = num(/finished in [\d.]+\w+, ([\d.]+) req\/s/, out);
    const succeeded = num(/requests: .*?(\d+) succeeded/, out);
    const failed = num(/requests: .*?(\d+) failed/, out) + num(/requests: .*?(\d+) errored/, out);
    const dataBytes = num(/traffic: .*?\((\d+)\) data/, out);
    const finished = /finished in ([\d.]+)(ms|s)/.exec(out);
    const finishedSec = finished ? Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1) : wallSec;
    // In a timed run h2load's counts (requests, traffic) and its req/s cover the measured
    // window alone, while "finished in" spans the warm-up too: divided by it, a 3 s run
    // after 1 s of warm-up read 3/4 of its rate.
    const windowSec = spec.durationSec ?? finishedSec;
    const lines = readFileSync(log, "utf8").trim().split("\n").filter(Boolean);
    const samples = lines.map((l) => Number(l.split("\t")[2]) / 1000).filter((x) => Number.isFinite(x));
    let shortReplies = 0;
    let okReplies = succeeded;
    if (spec.expectReplyBytes !== undefined && succeeded > 0) {
      // h2load cannot read grpc-status; replies carrying fewer DATA bytes than a full
      // message were errors (trailers-only). Estimate how many from the byte total.
      const perReply = spec.expectReplyBytes + 5;
      const full = Math.floor(dataBytes / perReply + 0.01);
      shortReplies = Math.max(0, succeeded - full);
      okReplies = Math.min(succeeded, full);
    }
    return {
      reqPerSec,
      succeeded,
      failed,
      shortReplies,
      okPerSec: okReplies / windowSec,
      latencyMs: summarize(samples),
      wallSec,
      dataBytesPerSec: dataBytes / windowSec,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Rounds of one target as one result: rates and latency percentiles averaged, counts summed. */
export function meanLoad(rs: LoadResult[]): LoadResult {
  const avg = (f: (r: LoadResult) => number): number => rs.reduce((n, r) => n + f(r), 0) / rs.length;
  const sum = (f: (r: LoadResult) => number): number => rs.reduce((n, r) => n + f(r), 0);
  return {
    reqPerSec: avg((r) => r.reqPerSec),
    succeeded: sum((r) => r.succeeded),
    failed: sum((r) => r.failed),
    shortReplies: sum((r) => r.shortReplies),
    okPerSec: avg((r) => r.okPerSec),
    latencyMs: {
      count: sum((r) => r.latencyMs.count),
      p50: avg((r) => r.latencyMs.p50),
      p90: avg((r) => r.latencyMs.p90),
      p99: avg((r) => r.latencyMs.p99),
      max: Math.max(...rs.map((r) => r.latencyMs.max)),
    },
    wallSec: sum((r) => r.wallSec),
    dataBytesPerSec: avg((r) => r.dataBytesPerSec),
  };
}
