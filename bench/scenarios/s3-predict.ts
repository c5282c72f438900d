/**
 * Scenario 3: GetPredictResult relayed by the gateway for 1 KiB, 1 MiB and 64 MiB
 * results, against calling the result owner directly and against nginx `grpc_pass`
 * (a plain proxy). Also: how much the gateway's resident memory grows per payload in flight.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import http2 from "node:http2";
import type { GoalFigures } from "../lib/goals";
import { Worker } from "../lib/child";
import { callRaw, grpcFrame } from "../lib/grpc-raw";
import { h2load, meanLoad, type LoadResult } from "../lib/h2load";
import { hasCommand } from "../lib/machine";
import { cpuMs, rssMiB, sampleRss } from "../lib/procfs";
import { row, type Row, type ScenarioResult } from "../lib/report";
import { startExecutors, startGatewayProc, type BenchOptions, type ExecutorsProc } from "../lib/setup";
import { round } from "../lib/stats";

const PATH = "/task.Task/GetPredictResult";
const KiB = 1024;
const MiB = 1024 * 1024;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** nginx as a plain gRPC proxy to the owner, with its own temp prefix, in the foreground. */
async function startNginx(owner: string): Promise<{ address: string; pids(): number[]; stop(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dai-bench-nginx-"));
  const port = await freePort();
  // As root, nginx would switch its worker to "nobody", which cannot use the temp prefix.
  const user = process.getuid?.() === 0 ? "user root;" : "";
  const conf = `
${user}
worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  upstream owner { server ${owner}; keepalive 16; }
  server {
    listen 127.0.0.1:${port} http2;
    client_max_body_size 0;
    location / {
      grpc_pass grpc://owner;
      grpc_read_timeout 300s;
      grpc_send_timeout 300s;
    }
  }
}
`;
  writeFileSync(path.join(dir, "nginx.conf"), conf);
  const args = ["-e", path.join(dir, "error.log"), "-p", dir, "-c", path.join(dir, "nginx.conf"), "-g", "daemon off;"];
  const proc: ChildProcess = spawn("nginx", args, { stdio: "ignore" });
  // Wait until it accepts connections.
  for (let i = 0; i < 50; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    address: `127.0.0.1:${port}`,
    // The master and its worker (the one that relays).
    pids: () => [proc.pid!, ...childPids(proc.pid!)],
    async stop() {
      const done = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
      proc.kill("SIGQUIT");
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await done;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A load run and the CPU time the relaying process (for direct: the owner) spent on it. */
interface Measured {
  load: LoadResult;
  cpuMs: number;
}

async function measured(pids: number[], run: () => Promise<LoadResult>): Promise<Measured> {
  const cpu = (): number => pids.reduce((n, p) => n + cpuMs(p), 0);
  const before = cpu();
  const load = await run();
  return { load, cpuMs: cpu() - before };
}

/** CPU milliseconds per successful reply over a target's rounds. */
function cpuPerReply(ms: Measured[]): number {
  const replies = ms.reduce((n, m) => n + m.load.okPerSec * m.load.wallSec, 0);
  return replies > 0 ? ms.reduce((n, m) => n + m.cpuMs, 0) / replies : NaN;
}

interface SizePlan {
  label: string;
  bytes: number;
  clients: number;
  streams: number;
  requests?: number;
  durationSec?: number;
}

/** Alternating rounds per size. */
const ROUNDS = (opts: BenchOptions): number => (opts.quick ? 2 : 3);

/** Successful replies only (a gRPC error is not throughput), times the payload size. */
function mibps(r: LoadResult, bytes: number): number {
  return (r.okPerSec * bytes) / MiB;
}

export async function predictRelay(opts: BenchOptions): Promise<ScenarioResult> {
  const sizes: SizePlan[] = [
    { label: "1 KiB", bytes: KiB, clients: 4, streams: 8, durationSec: opts.quick ? 3 : 10 },
    { label: "1 MiB", bytes: MiB, clients: 2, streams: 2, requests: opts.quick ? 60 : 400 },
    { label: "64 MiB", bytes: 64 * MiB, clients: 1, streams: 2, requests: opts.quick ? 12 : 24 },
  ];
  const ex = await startExecutors({ executors: 3, trainingTasks: 24 });
  if (!ex.predictRequest || !ex.predictOwner) {
    await ex.worker.stop();
    throw new Error("the generated ledger has no prediction result");
  }
  const message = ex.predictRequest;
  const rows: Row[] = [];
  const goals: GoalFigures = {};
  const measurements: Record<string, unknown>[] = [];
  const notes: string[] = [];
  const nginx = hasCommand("nginx") ? await startNginx(ex.predictOwner) : undefined;
  if (!nginx) notes.push("nginx not installed: the grpc_pass anchor was skipped (apt-get install -y nginx).");
  // The 1 KiB load keeps 32 streams in flight: with the default predict.maxConcurrent (8)
  // the rest are refused (RESOURCE_EXHAUSTED), which is admission, not relay throughput.
  const gw = await startGatewayProc(
    ex.executors,
    { predict: { maxConcurrent: 64 } },
    opts.profileDir ? { dir: opts.profileDir, name: "s3-predict" } : undefined,
  );
  const relay = await startRelay(ex.predictOwner);
  try {
    for (const s of sizes) {
      await ex.worker.request({ type: "setResult", bytes: s.bytes });
      const probe = await callRaw(gw.address, PATH, message);
      const direct = await callRaw(ex.predictOwner, PATH, message);
      if (!probe.body.equals(direct.body)) throw new Error(`gateway reply differs from the owner's for ${s.label}`);
      const expectReplyBytes = direct.body.length;
      const load = {
        path: PATH,
        message,
        clients: s.clients,
        streams: s.streams,
        requests: s.requests,
        durationSec: s.durationSec,
        expectReplyBytes,
      };
      // Rounds alternating direct, gateway, nginx, own relay (then reversed): load that drifts on a
      // shared machine shifts every target alike instead of one (a 64 MiB round is a second or two).
      const targets = [ex.predictOwner, gw.address, nginx?.address, relay.address];
      const pidsOf = [
        () => [ex.worker.pid],
        () => [gw.worker.pid],
        () => nginx?.pids() ?? [],
        () => [relay.worker.pid],
      ];
      const runs: Measured[][] = targets.map(() => []);
      for (let r = 0; r < ROUNDS(opts); r++) {
        const order = targets.map((_, i) => i);
        if (r % 2 === 1) order.reverse();
        for (const i of order) {
          const target = targets[i];
          if (target !== undefined) runs[i]!.push(await measured(pidsOf[i]!(), () => h2load({ target, ...load })));
        }
      }
      const cpu = runs.map((ms) => (ms.length > 0 ? cpuPerReply(ms) : NaN));
      const [d, g, n, o] = runs.map((ms) => (ms.length > 0 ? meanLoad(ms.map((m) => m.load)) : undefined)) as [
        LoadResult,
        LoadResult,
        LoadResult | undefined,
        LoadResult,
      ];
      const b = expectReplyBytes;
      opts.log(
        `s3: ${s.label}: direct ${round(mibps(d, b))} MiB/s, gateway ${round(mibps(g, b))} (${g.shortReplies} errors not counted), nginx ${n ? round(mibps(n, b)) : "-"}`,
      );
      const cpuMsPerReply = { direct: cpu[0], gateway: cpu[1], nginx: cpu[2], ownRelay: cpu[3] };
      measurements.push({
        size: s.label,
        bytes: s.bytes,
        load,
        direct: d,
        gateway: g,
        nginx: n,
        ownRelay: o,
        cpuMsPerReply,
      });
      const fmt = (r: LoadResult): string =>
        `${round(r.okPerSec, 1)} OK/s = ${round(mibps(r, b), 1)} MiB/s (p50 ${round(r.latencyMs.p50)} ms, p99 ${round(r.latencyMs.p99)} ms${r.shortReplies > 0 ? `; ${r.shortReplies} error replies not counted` : ""})`;
      rows.push(
        row({
          scenario: "3 GetPredictResult relay",
          measure: `throughput ÷ owner direct, ${s.label}`,
          gateway: fmt(g),
          baseline: `owner direct: ${fmt(d)}`,
          ratio: g.okPerSec / d.okPerSec,
        }),
      );
      rows.push(
        row({
          scenario: "3 GetPredictResult relay",
          measure: `throughput ÷ owner direct, ${s.label}, own streaming relay alone (src/transport, no checks: the floor of the wired relay)`,
          gateway: fmt(o),
          baseline: `owner direct: ${round(mibps(d, b), 1)} MiB/s`,
          ratio: o.okPerSec / d.okPerSec,
        }),
      );
      if (s.bytes === 64 * MiB) {
        // CPU, unlike throughput on 2 shared CPUs, hardly moves between runs: what relaying costs.
        if (n)
          rows.push(
            row({
              scenario: "3 GetPredictResult relay",
              measure: "CPU per 64 MiB reply relayed, gateway ÷ nginx grpc_pass",
              gateway: `gateway ${round(cpu[1]!)} ms; own relay alone ${round(cpu[3]!)} ms`,
              baseline: `nginx ${round(cpu[2]!)} ms (the owner spends ${round(cpu[0]!)} ms per reply served directly)`,
              ratio: cpu[1]! / cpu[2]!,
            }),
          );
        goals.predictThroughput = {
          value: g.okPerSec / d.okPerSec,
          detail: `gateway ${round(mibps(g, b), 1)} MiB/s ÷ owner direct ${round(mibps(d, b), 1)} MiB/s (successful replies only)`,
          note:
            (n ? `nginx grpc_pass: ${round(n.okPerSec / d.okPerSec, 2)} × direct; ` : "") +
            `own streaming relay alone: ${round(o.okPerSec / d.okPerSec, 2)} × direct; ` +
            `CPU per reply relayed: gateway ${round(cpu[1]!)} ms` +
            (n ? `, nginx ${round(cpu[2]!)} ms` : ""),
        };
      }
      if (n) {
        rows.push(
          row({
            scenario: "3 GetPredictResult relay",
            measure: `throughput ÷ nginx grpc_pass, ${s.label}`,
            gateway: `${round(g.okPerSec, 1)} OK/s`,
            baseline: `nginx: ${fmt(n)} (= ${round(n.okPerSec / d.okPerSec, 2)} × direct)`,
            ratio: g.okPerSec / n.okPerSec,
          }),
        );
      }
      for (const [name, r] of [
        ["gateway", g],
        ["direct", d],
        ["nginx", n],
        ["own relay", o],
      ] as const) {
        if (r && r.shortReplies > 0)
          notes.push(
            `${name} ${s.label}: ${r.shortReplies} of ${r.succeeded} replies were gRPC errors (not counted as throughput).`,
          );
      }
    }
  } finally {
    await gw.worker.stop();
    await relay.worker.stop();
    await nginx?.stop();
  }

  // Memory per payload in flight: a fresh gateway per level, peak RSS while k 64 MiB results stream through.
  const memory = await memoryPerInflight(ex, opts, () => startGatewayProc(ex.executors));
  const relayMemory = await memoryPerInflight(ex, opts, () => startRelay(ex.predictOwner!), "own relay");
  await ex.worker.stop();
  const slope = memory.fast.slopeMiBPerInflight;
  const slowSlope = memory.slow.slopeMiBPerInflight;
  const levelsText = (l: MemoryLevel[]): string =>
    l.map((x) => `${x.inflight}: +${round(x.growthMiB)} MiB, ${round(x.afterMiB - x.idleMiB)} MiB after`).join("; ");
  rows.push(
    row({
      scenario: "3 GetPredictResult relay",
      measure: "RSS growth per 64 MiB result in flight ÷ payload size, fast readers",
      gateway: `${round(slope, 1)} MiB per in-flight result (k in flight: peak growth, growth after they left: ${levelsText(memory.fast.levels)})`,
      baseline: "payload 64 MiB",
      ratio: slope / 64,
      target: "<= 0.1",
    }),
    row({
      scenario: "3 GetPredictResult relay",
      measure: "RSS growth per 64 MiB result in flight ÷ payload size, slow readers",
      gateway: `${round(slowSlope, 1)} MiB per in-flight result (${SLOW_READ_MIB_PER_SEC} MiB/s each; ${levelsText(memory.slow.levels)})`,
      baseline: "payload 64 MiB",
      ratio: slowSlope / 64,
      target: "<= 0.1",
    }),
  );
  const rSlope = relayMemory.fast.slopeMiBPerInflight;
  const rSlow = relayMemory.slow.slopeMiBPerInflight;
  rows.push(
    row({
      scenario: "3 GetPredictResult relay",
      measure: "RSS growth per 64 MiB result in flight ÷ payload size, own streaming relay alone (fast / slow readers)",
      gateway: `fast: ${round(rSlope, 1)} MiB (${levelsText(relayMemory.fast.levels)}); slow: ${round(rSlow, 1)} MiB (${levelsText(relayMemory.slow.levels)})`,
      baseline: "payload 64 MiB",
      ratio: Math.max(rSlope, rSlow) / 64,
      target: "<= 0.1",
    }),
  );
  goals.predictMemory = {
    value: Math.max(slope, slowSlope) / 64,
    detail: `the larger of fast readers (${round(slope / 64, 2)}) and slow readers (${round(slowSlope / 64, 2)}): RSS slope per 64 MiB result in flight ÷ 64 MiB`,
    note: `own streaming relay alone: ${round(Math.max(rSlope, rSlow) / 64, 3)}`,
  };
  notes.push(
    "Gateway configuration: defaults but predict.maxConcurrent 64 (the 1 KiB load keeps 32 streams in flight; the default 8 would refuse the rest).",
    `Throughput: ${ROUNDS(opts)} rounds per size alternating direct, gateway, nginx, own relay (then reversed), each figure the mean of its rounds.`,
    "Throughput = h2load req/s × reply size; all three targets get the same signed TaskRequest bytes and return byte-identical replies (checked).",
    "The gateway resolves the prediction task and its model task (GetTaskById fan-out to 3 Executors, uncached unless a cache module serves it) before relaying; that lookup dominates small payloads.",
    "Memory: peak RSS minus idle RSS of a fresh gateway while k requests for a 64 MiB result are in flight at once; the ratio is copies of the payload held per request (least-squares slope over k).",
    `Fast readers: h2load reads as fast as it can. Slow readers: k streams on one node:http2 connection, each reading ${SLOW_READ_MIB_PER_SEC} MiB/s under flow control (64 KiB windows) for ${SLOW_WINDOW_SEC} s, then cancelled; "after" is RSS after they left and a GC.`,
  );
  return {
    id: "s3",
    title: "3. GetPredictResult relay",
    rows,
    data: { measurements, memory, relayMemory },
    charts: [],
    notes,
    goals,
  };
}

interface MemoryLevel {
  inflight: number;
  idleMiB: number;
  peakMiB: number;
  growthMiB: number;
  afterMiB: number;
}

const SLOW_READ_MIB_PER_SEC = 2;
const SLOW_WINDOW_SEC = 4;

/** k streams on one connection that read `mibPerSec` each, for `seconds`, then cancel. */
async function slowReaders(
  address: string,
  message: Buffer,
  k: number,
  mibPerSec: number,
  seconds: number,
): Promise<{ bytesRead: number }> {
  const session = http2.connect(`http://${address}`, { settings: { initialWindowSize: 65535 } });
  session.on("error", () => {});
  let bytesRead = 0;
  const streams: http2.ClientHttp2Stream[] = [];
  for (let i = 0; i < k; i++) {
    const st = session.request({
      ":method": "POST",
      ":path": PATH,
      "content-type": "application/grpc",
      te: "trailers",
    });
    st.on("error", () => {});
    st.end(grpcFrame(message));
    st.pause();
    streams.push(st);
  }
  const perTick = (mibPerSec * MiB) / 10;
  const started = Date.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      for (const st of streams) {
        let got = 0;
        let chunk: Buffer | null;
        while (got < perTick && (chunk = st.read() as Buffer | null) !== null) got += chunk.length;
        bytesRead += got;
      }
      if (Date.now() - started >= seconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, 100);
  });
  for (const st of streams) st.close(http2.constants.NGHTTP2_CANCEL);
  session.destroy();
  return { bytesRead };
}

function slopeOf(levels: MemoryLevel[]): number {
  const xs = levels.map((l) => l.inflight);
  const ys = levels.map((l) => l.growthMiB);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den > 0 ? num / den : ys[0]! / xs[0]!;
}

/** The own streaming relay alone, in a process of its own, in front of the owner. */
async function startRelay(owner: string): Promise<{ worker: Worker; address: string }> {
  const worker = Worker.start("relay-http2", ["--expose-gc"]);
  const r = await worker.request<{ type: string; grpcPort: number }>({ type: "start", owner });
  return { worker, address: `127.0.0.1:${r.grpcPort}` };
}

async function memoryPerInflight(
  ex: ExecutorsProc,
  opts: BenchOptions,
  start: () => Promise<{ worker: Worker; address: string }>,
  label = "gateway",
): Promise<Record<"fast" | "slow", { levels: MemoryLevel[]; slopeMiBPerInflight: number }>> {
  await ex.worker.request({ type: "setResult", bytes: 64 * MiB });
  const out = {} as Record<"fast" | "slow", { levels: MemoryLevel[]; slopeMiBPerInflight: number }>;
  for (const mode of ["fast", "slow"] as const) {
    const levels: MemoryLevel[] = [];
    for (const k of opts.quick ? [1, 4] : [1, 2, 4, 8]) {
      const gw = await start();
      try {
        await callRaw(gw.address, PATH, ex.predictRequest!); // warm: channels, JIT
        await gw.worker.request({ type: "gc" });
        await new Promise((r) => setTimeout(r, 200));
        const idle = rssMiB(gw.worker.pid);
        const sampler = sampleRss(gw.worker.pid, 20);
        if (mode === "fast")
          await h2load({
            target: gw.address,
            path: PATH,
            message: ex.predictRequest!,
            clients: 1,
            streams: k,
            requests: k * 2,
          });
        else await slowReaders(gw.address, ex.predictRequest!, k, SLOW_READ_MIB_PER_SEC, SLOW_WINDOW_SEC);
        sampler.stop();
        const peak = sampler.peak();
        await new Promise((r) => setTimeout(r, 500));
        await gw.worker.request({ type: "gc" });
        const after = rssMiB(gw.worker.pid);
        levels.push({ inflight: k, idleMiB: idle, peakMiB: peak, growthMiB: peak - idle, afterMiB: after });
        opts.log(
          `s3: ${label}, ${mode} readers, ${k} x 64 MiB in flight: RSS idle ${round(idle)} MiB, peak ${round(peak)} MiB, after ${round(after)} MiB`,
        );
      } finally {
        await gw.worker.stop();
      }
    }
    out[mode] = { levels, slopeMiBPerInflight: slopeOf(levels) };
  }
  return out;
}
