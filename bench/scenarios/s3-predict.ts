/**
 * Scenario 3: GetPredictResult relayed by the gateway for 1 KiB, 1 MiB and 64 MiB
 * results, against calling the result owner directly and against nginx `grpc_pass`
 * (a plain proxy). Also: how much the gateway's resident memory grows per payload in flight.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { callRaw } from "../lib/grpc-raw";
import { h2load, type LoadResult } from "../lib/h2load";
import { hasCommand } from "../lib/machine";
import { rssMiB, sampleRss } from "../lib/procfs";
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
async function startNginx(owner: string): Promise<{ address: string; stop(): Promise<void> }> {
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

interface SizePlan {
  label: string;
  bytes: number;
  clients: number;
  streams: number;
  requests?: number;
  durationSec?: number;
}

function mibps(r: LoadResult): number {
  return r.dataBytesPerSec / MiB;
}

export async function predictRelay(opts: BenchOptions): Promise<ScenarioResult> {
  const sizes: SizePlan[] = [
    { label: "1 KiB", bytes: KiB, clients: 4, streams: 8, durationSec: opts.quick ? 3 : 10 },
    { label: "1 MiB", bytes: MiB, clients: 2, streams: 2, requests: opts.quick ? 60 : 400 },
    { label: "64 MiB", bytes: 64 * MiB, clients: 1, streams: 2, requests: opts.quick ? 4 : 16 },
  ];
  const ex = await startExecutors({ executors: 3, trainingTasks: 24 });
  if (!ex.predictRequest || !ex.predictOwner) {
    await ex.worker.stop();
    throw new Error("the generated ledger has no prediction result");
  }
  const message = ex.predictRequest;
  const rows: Row[] = [];
  const measurements: Record<string, unknown>[] = [];
  const notes: string[] = [];
  const nginx = hasCommand("nginx") ? await startNginx(ex.predictOwner) : undefined;
  if (!nginx) notes.push("nginx not installed: the grpc_pass anchor was skipped (apt-get install -y nginx).");
  const gw = await startGatewayProc(
    ex.executors,
    {},
    opts.profileDir ? { dir: opts.profileDir, name: "s3-predict" } : undefined,
  );
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
      const d = await h2load({ target: ex.predictOwner, ...load });
      const g = await h2load({ target: gw.address, ...load });
      const n = nginx ? await h2load({ target: nginx.address, ...load }) : undefined;
      opts.log(
        `s3: ${s.label}: direct ${round(mibps(d))} MiB/s, gateway ${round(mibps(g))}, nginx ${n ? round(mibps(n)) : "-"}`,
      );
      measurements.push({ size: s.label, bytes: s.bytes, load, direct: d, gateway: g, nginx: n });
      const fmt = (r: LoadResult): string =>
        `${round(r.reqPerSec, 1)} req/s = ${round(mibps(r), 1)} MiB/s (p50 ${round(r.latencyMs.p50)} ms, p99 ${round(r.latencyMs.p99)} ms)`;
      rows.push(
        row({
          scenario: "3 GetPredictResult relay",
          measure: `throughput ÷ owner direct, ${s.label}`,
          gateway: fmt(g),
          baseline: `owner direct: ${fmt(d)}`,
          ratio: g.reqPerSec / d.reqPerSec,
        }),
      );
      if (n) {
        rows.push(
          row({
            scenario: "3 GetPredictResult relay",
            measure: `throughput ÷ nginx grpc_pass, ${s.label}`,
            gateway: `${round(g.reqPerSec, 1)} req/s`,
            baseline: `nginx: ${fmt(n)} (= ${round(n.reqPerSec / d.reqPerSec, 2)} × direct)`,
            ratio: g.reqPerSec / n.reqPerSec,
          }),
        );
      }
      for (const [name, r] of [
        ["gateway", g],
        ["direct", d],
        ["nginx", n],
      ] as const) {
        if (r && r.shortReplies > r.succeeded * 0.01)
          notes.push(`WARNING: ${name} ${s.label}: ${r.shortReplies} replies were errors.`);
      }
    }
  } finally {
    await gw.worker.stop();
    await nginx?.stop();
  }

  // Memory per payload in flight: a fresh gateway per level, peak RSS while k 64 MiB results stream through.
  const memory = await memoryPerInflight(ex, opts);
  await ex.worker.stop();
  const slope = memory.slopeMiBPerInflight;
  rows.push(
    row({
      scenario: "3 GetPredictResult relay",
      measure: "RSS growth per 64 MiB result in flight ÷ payload size",
      gateway: `${round(slope, 1)} MiB per in-flight result (peaks ${memory.levels.map((l) => `${l.inflight}: +${round(l.growthMiB)} MiB`).join(", ")})`,
      baseline: "payload 64 MiB",
      ratio: slope / 64,
    }),
  );
  notes.push(
    "Throughput = h2load req/s × reply size; all three targets get the same signed TaskRequest bytes and return byte-identical replies (checked).",
    "The gateway resolves the prediction task and its model task (GetTaskById fan-out to 3 Executors, uncached unless a cache module serves it) before relaying; that lookup dominates small payloads.",
    "Memory: peak RSS minus idle RSS of a fresh gateway while k requests for a 64 MiB result are in flight at once; the ratio is copies of the payload held per request.",
  );
  return { id: "s3", title: "3. GetPredictResult relay", rows, data: { measurements, memory }, charts: [], notes };
}

async function memoryPerInflight(
  ex: ExecutorsProc,
  opts: BenchOptions,
): Promise<{
  levels: { inflight: number; idleMiB: number; peakMiB: number; growthMiB: number }[];
  slopeMiBPerInflight: number;
}> {
  const levels: { inflight: number; idleMiB: number; peakMiB: number; growthMiB: number }[] = [];
  await ex.worker.request({ type: "setResult", bytes: 64 * MiB });
  for (const k of opts.quick ? [1, 2] : [1, 2, 4, 8]) {
    const gw = await startGatewayProc(ex.executors);
    try {
      await callRaw(gw.address, PATH, ex.predictRequest!); // warm: channels, JIT
      await gw.worker.request({ type: "gc" });
      await new Promise((r) => setTimeout(r, 200));
      const idle = rssMiB(gw.worker.pid);
      const sampler = sampleRss(gw.worker.pid, 20);
      await h2load({
        target: gw.address,
        path: PATH,
        message: ex.predictRequest!,
        clients: 1,
        streams: k,
        requests: k * 2,
      });
      sampler.stop();
      const peak = sampler.peak();
      levels.push({ inflight: k, idleMiB: idle, peakMiB: peak, growthMiB: peak - idle });
      opts.log(`s3: ${k} x 64 MiB in flight: RSS idle ${round(idle)} MiB, peak ${round(peak)} MiB`);
    } finally {
      await gw.worker.stop();
    }
  }
  // Least-squares slope of growth against in-flight count.
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
  const slope = den > 0 ? num / den : ys[0]! / xs[0]!;
  return { levels, slopeMiBPerInflight: slope };
}
