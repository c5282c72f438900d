/**
 * Scenario 7: CPU per upstream call of each client transport, receiving the same
 * 100-task (~78 KB) ListTask reply from a bare grpc-js server: grpc-js (what the gateway
 * uses today), the gateway's own transport on node:http2 (src/transport/client.ts), and
 * node:http2 with nothing but framing (the floor). The client runs
 * alone in a child process and reads its own CPU time around the measured calls.
 */
import { Worker } from "../lib/child";
import { callRaw } from "../lib/grpc-raw";
import { row, type Row, type ScenarioResult } from "../lib/report";
import type { BenchOptions } from "../lib/setup";
import { round } from "../lib/stats";
import { ListTaskRequest } from "../../src/gen/task/task";
import { FLTask } from "../../src/gen/task/task";
import { generateLedger, deterministicKeyPair } from "../../src/sim/ledger";
import { compareListOrder } from "../../src/merge/merge";
import { decodeTaskView, encodeTaskList } from "../../src/wire/task-view";

const PATH = "/task.Task/ListTask";

/** A realistic reply: the newest 100 tasks of a generated ledger, as an Executor sends them. */
export function hundredTaskReply(): Buffer {
  const ids = Array.from({ length: 3 }, (_, i) => ({
    address: `10.0.0.${i + 1}:8184`,
    keys: deterministicKeyPair(`s6-executor-${i}`),
  }));
  const ledger = generateLedger(ids, { seed: 6, trainingTasks: 120, overlap: 0 });
  const views = ledger.tasks.map((t) => decodeTaskView(Buffer.from(FLTask.encode(t).finish())));
  views.sort(compareListOrder);
  return encodeTaskList(views.slice(0, 100));
}

export const CLIENTS = ["grpc-js", "own http2 transport", "node:http2"];

export async function transportCost(opts: BenchOptions): Promise<ScenarioResult> {
  const reply = hundredTaskReply();
  const calls = opts.quick ? 2000 : 10_000;
  const concurrency = 16;
  const bare = Worker.start("bare");
  const rows: Row[] = [];
  const results: Record<string, { usPerCall: number; callsPerSec: number }> = {};
  try {
    const { port } = await bare.request<{ type: string; port: number }>({
      type: "start",
      replyBase64: reply.toString("base64"),
    });
    const address = `127.0.0.1:${port}`;
    const request = Buffer.from(
      ListTaskRequest.encode({
        pubKey: Buffer.alloc(33, 2),
        status: "",
        timeStart: 0n,
        timeEnd: 9_223_372_036_854_775_807n,
        limit: 100n,
      }).finish(),
    );
    const check = await callRaw(address, PATH, request);
    if (!check.body.equals(reply)) throw new Error("bare server reply differs");
    for (const client of CLIENTS) {
      const w = Worker.start("callers", ["--expose-gc"]);
      try {
        const r = await w.request<{ type: string; cpuUs: number; wallMs: number; bytes: number }>(
          { type: "run", client, address, requestBase64: request.toString("base64"), calls, concurrency },
          600_000,
        );
        if (r.bytes !== calls * reply.length)
          throw new Error(`${client}: got ${r.bytes} bytes, expected ${calls * reply.length}`);
        results[client] = { usPerCall: r.cpuUs / calls, callsPerSec: (calls * 1000) / r.wallMs };
        opts.log(
          `s7: ${client}: ${round(r.cpuUs / calls, 1)} µs CPU per call, ${Math.round((calls * 1000) / r.wallMs)} calls/s`,
        );
      } finally {
        await w.stop();
      }
    }
  } finally {
    await bare.stop();
  }
  const floor = results["node:http2"]!;
  for (const client of CLIENTS) {
    const r = results[client]!;
    rows.push(
      row({
        scenario: "7 upstream transport",
        measure: `client CPU per call, ${reply.length}-byte reply, ${client}`,
        gateway: `${round(r.usPerCall, 1)} µs per call (${Math.round(r.callsPerSec)} calls/s, ${concurrency} in flight)`,
        baseline: `node:http2 framing only: ${round(floor.usPerCall, 1)} µs per call`,
        ratio: r.usPerCall / floor.usPerCall,
      }),
    );
  }
  return {
    id: "s7",
    title: "7. Upstream transport cost",
    rows,
    data: { replyBytes: reply.length, calls, concurrency, results, floorUsPerCall: floor.usPerCall },
    charts: [],
    notes: [
      `${calls} unary ListTask calls, ${concurrency} in flight on one connection, after 200 warm-up calls, to a bare grpc-js server returning the same ${reply.length}-byte reply (100 tasks); each client in its own process, CPU from process.cpuUsage() around the measured calls.`,
      "node:http2 is the floor: framing and nothing else (no deadline, status, metadata or size handling).",
    ],
  };
}
