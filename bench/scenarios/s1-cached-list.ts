/**
 * Scenario 1: ListTask answered from the gateway's cache (100 tasks in the answer),
 * against a bare grpc-js server that returns the same reply bytes and does nothing else.
 */
import { readFileSync } from "node:fs";
import { ListTaskRequest } from "../../src/gen/task/task";
import { Worker } from "../lib/child";
import { callRaw } from "../lib/grpc-raw";
import { h2load, meanLoad, type LoadResult } from "../lib/h2load";
import { cpuMs } from "../lib/procfs";
import { row, type ScenarioResult } from "../lib/report";
import { startExecutors, startGatewayProc, type BenchOptions } from "../lib/setup";
import { round } from "../lib/stats";

const PATH = "/task.Task/ListTask";
const INT64_MAX = 9_223_372_036_854_775_807n;

/**
 * The three servers are measured in alternating rounds (bare, gateway, own; then the
 * other way round), each figure the mean of its rounds: on a machine shared with other
 * work, load that drifts during the run shifts every target alike instead of one.
 */
async function alternating(
  rounds: number,
  targets: { name: string; pid: number; run: () => Promise<LoadResult> }[],
  log: (line: string) => void,
): Promise<Measured[]> {
  const runs: LoadResult[][] = targets.map(() => []);
  const cpu = targets.map(() => ({ ms: 0, mainMs: 0, replies: 0 }));
  for (let r = 0; r < rounds; r++) {
    const order = targets.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) {
      const t = targets[i]!;
      const cpu0 = cpuMs(t.pid);
      const main0 = mainThreadCpuMs(t.pid);
      const res = await t.run();
      // The server's own CPU (all its threads), per reply: unlike req/s, not what other work on the machine took.
      cpu[i]!.ms += cpuMs(t.pid) - cpu0;
      cpu[i]!.mainMs += mainThreadCpuMs(t.pid) - main0;
      cpu[i]!.replies += res.okPerSec * res.wallSec; // the warm-up counted at the measured rate
      log(`s1 round ${r + 1}: ${t.name} ${Math.round(res.okPerSec)} OK/s`);
      runs[i]!.push(res);
    }
  }
  return runs.map((rs, i) => ({
    ...meanLoad(rs),
    cpuUsPerReply: (cpu[i]!.ms * 1000) / cpu[i]!.replies,
    mainCpuUsPerReply: (cpu[i]!.mainMs * 1000) / cpu[i]!.replies,
  }));
}

/** CPU time of a process's main thread (its JavaScript), in ms: /proc/<pid>/task/<pid>/stat. */
function mainThreadCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

type Measured = LoadResult & { cpuUsPerReply: number; mainCpuUsPerReply: number };

export async function cachedList(opts: BenchOptions): Promise<ScenarioResult> {
  const rounds = opts.quick ? 2 : 3;
  const durationSec = opts.quick ? 3 : 10;
  const load = { clients: 4, streams: 16, durationSec, warmupSec: 1 };
  // The cluster-wide view over 4 Executors, capped at 100 of ~130 tasks.
  const ex = await startExecutors({ executors: 4, trainingTasks: 90, overlap: 0.2 });
  const gw = await startGatewayProc(
    ex.executors,
    {},
    opts.profileDir ? { dir: opts.profileDir, name: "s1-list" } : undefined,
  );
  const bare = Worker.start("bare");
  const own = Worker.start("bare-http2");
  const floor = Worker.start("framing-floor");
  try {
    const message = ListTaskRequest.encode({
      pubKey: Buffer.alloc(0),
      status: "",
      timeStart: 0n,
      timeEnd: INT64_MAX,
      limit: 100n,
    }).finish();
    await callRaw(gw.address, PATH, Buffer.from(message)); // fills the cache, if there is one
    const probe = await callRaw(gw.address, PATH, Buffer.from(message));
    const cacheState = probe.trailers["dai-cache"] ?? "(no dai-cache trailer)";
    const tasks = countTasks(probe.body);
    opts.log(`s1: reply ${probe.body.length} bytes, ${tasks} tasks, dai-cache=${cacheState}`);
    /** Starts a baseline server answering the gateway's reply bytes, and checks it does. */
    const serving = async (w: Worker, name: string): Promise<string> => {
      const { port } = await w.request<{ type: string; port: number }>({
        type: "start",
        replyBase64: probe.body.toString("base64"),
      });
      const address = `127.0.0.1:${port}`;
      if (!(await callRaw(address, PATH, Buffer.from(message))).body.equals(probe.body))
        throw new Error(`${name} reply differs`);
      return address;
    };
    const bareAddr = await serving(bare, "bare server");
    const ownAddr = await serving(own, "own http2 server");
    const floorAddr = await serving(floor, "framing floor");

    const expectReplyBytes = probe.body.length;
    const target = (name: string, address: string, pid: number) => ({
      name,
      pid,
      run: () => h2load({ target: address, path: PATH, message, ...load, expectReplyBytes }),
    });
    const [base, gwRes, ownRes, floorRes] = (await alternating(
      rounds,
      [
        target("bare grpc-js", bareAddr, bare.pid),
        target("gateway", gw.address, gw.worker.pid),
        target("own http2 alone", ownAddr, own.pid),
        target("framing floor", floorAddr, floor.pid),
      ],
      opts.log,
    )) as [Measured, Measured, Measured, Measured];
    const ratio = gwRes.okPerSec / base.okPerSec;
    // What a stock client costs: the same query with timeEnd = now, new bytes on every call.
    const stockCalls = opts.quick ? 20_000 : 60_000;
    const sameBytes = await gatewayCpuPerCall(gw.address, gw.worker.pid, message, stockCalls, false, probe.body.length);
    const stock = await gatewayCpuPerCall(gw.address, gw.worker.pid, message, stockCalls, true, probe.body.length);
    opts.log(`s1: gateway CPU per hit: identical requests ${round(sameBytes)} µs, stock client ${round(stock)} µs`);
    const notes = [
      `Reply: ${tasks} tasks, ${probe.body.length} bytes; gateway's \`dai-cache\` trailer on a repeated call: \`${cacheState}\`` +
        (cacheState === "hit"
          ? "."
          : " — the cache was NOT serving these calls, so this measures the uncached fan-out to 4 Executors."),
      `h2load: ${load.clients} connections × ${load.streams} streams, ${durationSec} s after ${load.warmupSec} s warm-up, one h2load thread; ` +
        `${rounds} rounds alternating bare, gateway, own, floor (then reversed), each figure the mean of its rounds.`,
      `Latency gateway p50/p90/p99 ${round(gwRes.latencyMs.p50)}/${round(gwRes.latencyMs.p90)}/${round(gwRes.latencyMs.p99)} ms; ` +
        `bare ${round(base.latencyMs.p50)}/${round(base.latencyMs.p90)}/${round(base.latencyMs.p99)} ms.`,
    ];
    if (gwRes.shortReplies > gwRes.succeeded * 0.01)
      notes.push(`WARNING: ${gwRes.shortReplies} gateway replies were errors.`);
    return {
      id: "s1",
      title: "1. Cached ListTask",
      rows: [
        row({
          scenario: "1 cached ListTask",
          measure: `req/s, 100-task reply (dai-cache: ${cacheState})`,
          gateway: `${Math.round(gwRes.okPerSec)} OK/s (p50 ${round(gwRes.latencyMs.p50)} ms, p99 ${round(gwRes.latencyMs.p99)} ms)`,
          baseline: `${Math.round(base.okPerSec)} OK/s bare grpc-js (p50 ${round(base.latencyMs.p50)} ms, p99 ${round(base.latencyMs.p99)} ms)`,
          ratio,
          target: ">= 1.0",
        }),
        row({
          scenario: "1 cached ListTask",
          measure:
            "req/s, same reply from the own node:http2 server (src/transport/server.ts alone, precomputed bytes, no pipeline)",
          gateway: `${Math.round(ownRes.okPerSec)} OK/s (p50 ${round(ownRes.latencyMs.p50)} ms, p99 ${round(ownRes.latencyMs.p99)} ms)`,
          baseline: `${Math.round(base.okPerSec)} OK/s bare grpc-js`,
          ratio: ownRes.okPerSec / base.okPerSec,
          target: ">= 1.5",
        }),
        row({
          scenario: "1 cached ListTask",
          measure:
            "req/s, same reply framed in JavaScript over net.Socket (bench/lib/framing-floor.ts: no node:http2, no pipeline)",
          gateway:
            `${Math.round(floorRes.okPerSec)} OK/s (p50 ${round(floorRes.latencyMs.p50)} ms, p99 ${round(floorRes.latencyMs.p99)} ms); ` +
            `CPU per reply ${Math.round(floorRes.cpuUsPerReply)} µs, main thread ${Math.round(floorRes.mainCpuUsPerReply)}`,
          baseline: `${Math.round(base.okPerSec)} OK/s bare grpc-js`,
          ratio: floorRes.okPerSec / base.okPerSec,
        }),
        row({
          scenario: "1 cached ListTask",
          measure:
            "CPU per reply of the serving process (/proc, all threads; bare ÷ gateway: above 1 = cheaper than bare grpc-js)",
          gateway:
            `${Math.round(gwRes.cpuUsPerReply)} µs per hit, main thread ${Math.round(gwRes.mainCpuUsPerReply)} ` +
            `(own server alone: ${Math.round(ownRes.cpuUsPerReply)} µs, main thread ${Math.round(ownRes.mainCpuUsPerReply)})`,
          baseline: `${Math.round(base.cpuUsPerReply)} µs bare grpc-js (main thread ${Math.round(base.mainCpuUsPerReply)})`,
          ratio: base.cpuUsPerReply / gwRes.cpuUsPerReply,
        }),
        row({
          scenario: "1 cached ListTask",
          measure:
            "gateway CPU per hit, stock client (timeEnd = now on every call, node:http2 caller) ÷ the same request repeated (identical bytes)",
          gateway: `${Math.round(stock)} µs per hit`,
          baseline: `${Math.round(sameBytes)} µs per hit, identical requests`,
          ratio: stock / sameBytes,
          target: "<= 1.1",
        }),
      ],
      data: {
        cacheState,
        replyBytes: probe.body.length,
        tasks,
        load,
        gateway: gwRes,
        bare: base,
        ownHttp2: ownRes,
        framingFloor: floorRes,
        cpuPerHitUs: { identical: sameBytes, stockClient: stock, calls: stockCalls },
      },
      charts: [],
      notes,
      goals: {
        cachedList: {
          value: ratio,
          detail: `gateway ${Math.round(gwRes.okPerSec)} OK/s (dai-cache: ${cacheState}) ÷ bare grpc-js server ${Math.round(base.okPerSec)} OK/s, same ${probe.body.length}-byte reply`,
          note: `the own serving transport alone (precomputed bytes, no pipeline): ${(ownRes.okPerSec / base.okPerSec).toFixed(2)} × bare grpc-js`,
        },
      },
    };
  } finally {
    await Promise.all([gw.worker.stop(), bare.stop(), own.stop(), floor.stop(), ex.worker.stop()]);
  }
}

/**
 * The gateway's CPU (all threads) per call of a closed loop of `calls` ListTask calls,
 * 16 in flight, from a node:http2 caller in its own process (200 warm-up calls included).
 */
async function gatewayCpuPerCall(
  address: string,
  pid: number,
  message: Uint8Array,
  calls: number,
  timeEndNow: boolean,
  replyBytes: number,
): Promise<number> {
  const w = Worker.start("callers");
  try {
    const cpu0 = cpuMs(pid);
    const r = await w.request<{ type: string; bytes: number }>(
      {
        type: "run",
        client: "node:http2",
        address,
        requestBase64: Buffer.from(message).toString("base64"),
        calls,
        concurrency: 16,
        timeEndNow,
      },
      600_000,
    );
    const used = cpuMs(pid) - cpu0;
    if (r.bytes !== calls * replyBytes)
      throw new Error(`s1 stock caller: ${r.bytes} bytes, expected ${calls * replyBytes}`);
    return (used * 1000) / (calls + 200);
  } finally {
    await w.stop();
  }
}

/** Counts field-1 entries of an FLTasks reply without decoding them. */
function countTasks(buf: Buffer): number {
  let n = 0;
  let pos = 0;
  while (pos < buf.length) {
    pos++; // tag 0x0a
    let len = 0;
    let shift = 0;
    for (;;) {
      const b = buf[pos++]!;
      len += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) break;
    }
    pos += len;
    n++;
  }
  return n;
}
