/**
 * Scenario 1: ListTask answered from the gateway's cache (100 tasks in the answer),
 * against a bare grpc-js server that returns the same reply bytes and does nothing else.
 */
import { ListTaskRequest } from "../../src/gen/task/task";
import { Worker } from "../lib/child";
import { callRaw } from "../lib/grpc-raw";
import { h2load } from "../lib/h2load";
import { row, type ScenarioResult } from "../lib/report";
import { startExecutors, startGatewayProc, type BenchOptions } from "../lib/setup";
import { round } from "../lib/stats";

const PATH = "/task.Task/ListTask";
const INT64_MAX = 9_223_372_036_854_775_807n;

export async function cachedList(opts: BenchOptions): Promise<ScenarioResult> {
  const durationSec = opts.quick ? 4 : 15;
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
    const { port } = await bare.request<{ type: string; port: number }>({
      type: "start",
      replyBase64: probe.body.toString("base64"),
    });
    const bareAddr = `127.0.0.1:${port}`;
    const check = await callRaw(bareAddr, PATH, Buffer.from(message));
    if (!check.body.equals(probe.body)) throw new Error("bare server reply differs");

    const ownPort = (
      await own.request<{ type: string; port: number }>({ type: "start", replyBase64: probe.body.toString("base64") })
    ).port;
    const ownAddr = `127.0.0.1:${ownPort}`;
    if (!(await callRaw(ownAddr, PATH, Buffer.from(message))).body.equals(probe.body))
      throw new Error("own http2 server reply differs");

    const expectReplyBytes = probe.body.length;
    const base = await h2load({ target: bareAddr, path: PATH, message, ...load, expectReplyBytes });
    const gwRes = await h2load({ target: gw.address, path: PATH, message, ...load, expectReplyBytes });
    const ownRes = await h2load({ target: ownAddr, path: PATH, message, ...load, expectReplyBytes });
    const ratio = gwRes.okPerSec / base.okPerSec;
    const notes = [
      `Reply: ${tasks} tasks, ${probe.body.length} bytes; gateway's \`dai-cache\` trailer on a repeated call: \`${cacheState}\`` +
        (cacheState === "hit"
          ? "."
          : " — the cache was NOT serving these calls, so this measures the uncached fan-out to 4 Executors."),
      `h2load: ${load.clients} connections × ${load.streams} streams, ${durationSec} s after ${load.warmupSec} s warm-up, one h2load thread.`,
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
            "req/s, same reply from the own node:http2 server (src/transport/server.ts, precomputed bytes; not the gateway yet)",
          gateway: `${Math.round(ownRes.okPerSec)} OK/s (p50 ${round(ownRes.latencyMs.p50)} ms, p99 ${round(ownRes.latencyMs.p99)} ms)`,
          baseline: `${Math.round(base.okPerSec)} OK/s bare grpc-js`,
          ratio: ownRes.okPerSec / base.okPerSec,
          target: ">= 1.5",
        }),
      ],
      data: { cacheState, replyBytes: probe.body.length, tasks, load, gateway: gwRes, bare: base, ownHttp2: ownRes },
      charts: [],
      notes,
      goals: {
        cachedList: {
          value: ratio,
          detail: `gateway ${Math.round(gwRes.okPerSec)} OK/s (dai-cache: ${cacheState}) ÷ bare grpc-js server ${Math.round(base.okPerSec)} OK/s, same ${probe.body.length}-byte reply`,
          note: `the own serving transport alone (precomputed bytes, not wired): ${(ownRes.okPerSec / base.okPerSec).toFixed(2)} × bare grpc-js`,
        },
      },
    };
  } finally {
    await Promise.all([gw.worker.stop(), bare.stop(), own.stop(), ex.worker.stop()]);
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
