/**
 * `npm run demo`: five simulated Executors (one lagging; two of the v3 generation,
 * PaddleDTX main), a gateway on embedded defaults that knows the key of only one of
 * them, sample queries showing discovery, merging and routing across generations,
 * then the gateway keeps serving.
 */
import { createChannel, createClient, Metadata } from "nice-grpc";
import * as grpc from "@grpc/grpc-js";
import { FLTasks, TaskDefinition, type FLTask } from "../gen/task/task";
import { parseConfig } from "../config/load";
import { startGateway } from "../gateway";
import { createLogger } from "../log";
import { startSimCluster } from "../sim/cluster";
import { signWithRule } from "../generations/signature";
import { encodeListRequest } from "../generations/list-request";

const out = (s = ""): void => {
  process.stdout.write(`${s}\n`);
};

function nsToIso(ns: bigint): string {
  return ns === 0n ? "-" : new Date(Number(ns / 1_000_000n)).toISOString().replace(".000Z", "Z");
}

/** A ListTask with request bytes as given (a v3 client's layout), the reply's bytes back. */
function rawListTask(target: string, body: Buffer): Promise<Buffer> {
  const c = new grpc.Client(target, grpc.credentials.createInsecure());
  const id = (b: Buffer): Buffer => b;
  return new Promise<Buffer>((resolve, reject) => {
    c.makeUnaryRequest("/task.Task/ListTask", id, id, body, { deadline: Date.now() + 10_000 }, (err, reply) => {
      c.close();
      if (err || !reply) reject(err ?? new Error("no reply"));
      else resolve(reply);
    });
  });
}

export async function runDemo(opts: { port: number; httpPort: number }): Promise<() => Promise<void>> {
  // A mixed cluster: executor-2 and executor-3 run the v3 generation (PaddleDTX main).
  const generations = ["v2", "v2", "v3", "v3", "v2"] as const;
  const sim = await startSimCluster({
    executors: 5,
    seed: 7,
    lagging: [4],
    trainingTasks: 16,
    versions: [...generations],
  });
  const seed = sim.executors[0]!;
  const config = parseConfig({
    listen: `127.0.0.1:${opts.port}`,
    httpListen: `127.0.0.1:${opts.httpPort}`,
    executors: {
      // A generation is configured, never guessed: the v3 Executors are named with theirs.
      seeds: [
        { address: seed.address, pubKey: sim.keys[0]!.publicKey.toString("hex") },
        { address: sim.executors[2]!.address, generation: "v3" },
        { address: sim.executors[3]!.address, generation: "v3" },
      ],
      discoveryAllow: ["127.0.0.1/32"],
    },
    v3: { listen: "127.0.0.1:0", httpListen: "127.0.0.1:0", allowCors: true },
    log: { level: "warn" },
  });
  const gw = await startGateway(config, createLogger(config.log.level));
  const target = `127.0.0.1:${gw.grpcPort}`;
  const channel = createChannel(target);
  const client = createClient(TaskDefinition, channel);
  const name = new Map(sim.executors.map((e, i) => [e.address, `executor-${i}`]));

  out(`dai-gateway demo: 5 simulated Executors on loopback, gateway on ${target}`);
  out(`The gateway knows ONE seed's key (${name.get(seed.address)} ${seed.address}); the rest are discovered from`);
  out(`the tasks' dataSets[].address (allow-list 127.0.0.1/32). executor-4 lags behind the ledger.`);
  out(`executor-2 and executor-3 are v3 Executors (PaddleDTX main), seeded with generation v3; v3 clients also have`);
  out(`their own gRPC port 127.0.0.1:${gw.v3GrpcPort} and the v3 HTTP/JSON API on 127.0.0.1:${gw.v3HttpPort}.\n`);

  let trailers = new Metadata();
  const onTrailer = (t: Metadata): void => {
    trailers = t;
  };
  const now = BigInt(Date.now()) * 1_000_000n;

  const all = await client.listTask({ pubKey: Buffer.alloc(0), timeStart: 0n, timeEnd: now, limit: 0n }, { onTrailer });
  out(
    `1. Cluster-wide ListTask (empty pubKey): ${all.fLTasks.length} tasks;` +
      ` Executors asked ${trailers.get("dai-executors-asked")}, answered ${trailers.get("dai-executors-answered")}.`,
  );
  out(
    `   Known Executors now: ${gw.registry.size} (${gw.registry
      .list()
      .map((e) => name.get(e.address) ?? e.address)
      .join(", ")})\n`,
  );

  const byStatus = new Map<string, number>();
  for (const t of all.fLTasks) byStatus.set(t.status, (byStatus.get(t.status) ?? 0) + 1);
  out("   Tasks by status:");
  for (const [s, n] of [...byStatus].sort((a, b) => b[1] - a[1])) out(`     ${s.padEnd(11)} ${"#".repeat(n)} ${n}`);
  out();

  out("   Which Executor holds what:");
  for (const [i, e] of sim.executors.entries())
    out(`     executor-${i} ${e.address.padEnd(16)} ${e.taskIds().length} tasks`);
  out();

  out("   Newest 8 tasks (newest first):");
  out(`     ${"ID".padEnd(36)}  ${"name".padEnd(12)} ${"status".padEnd(11)} published             executors`);
  for (const t of all.fLTasks.slice(0, 8)) {
    const ex = t.dataSets.map((d) => name.get(d.address)?.replace("executor-", "#") ?? d.address).join(",");
    out(`     ${t.iD}  ${t.name.padEnd(12)} ${t.status.padEnd(11)} ${nsToIso(t.publishTime)}  ${ex}`);
  }
  out();

  const requester = sim.ledger.requesters[0]!;
  const mine = await client.listTask(
    { pubKey: requester.publicKey, timeStart: 0n, timeEnd: now, limit: 100n },
    { onTrailer },
  );
  out(
    `2. ListTask by requester ${requester.publicKey.toString("hex").slice(0, 16)}… (stock-client style, limit 100): ${mine.fLTasks.length} tasks` +
      ` (dai-cache: ${trailers.get("dai-cache")})`,
  );
  // A stock client sends timeEnd = now on every call; the cache still answers it, exactly.
  const later = BigInt(Date.now()) * 1_000_000n;
  const again = await client.listTask(
    { pubKey: requester.publicKey, timeStart: 0n, timeEnd: later, limit: 100n },
    { onTrailer },
  );
  out(
    `   The same call again with a newer timeEnd: ${again.fLTasks.length} tasks (dai-cache: ${trailers.get("dai-cache")}, no fan-out).`,
  );

  const lagging = sim.executors[4]!;
  const conflict = sim.ledger.tasks.find(
    (t) => lagging.taskIds().includes(t.iD) && ["Finished", "Failed", "Processing", "Ready"].includes(t.status),
  );
  if (conflict) {
    const got: FLTask = await client.getTaskById({ taskID: conflict.iD }, { onTrailer });
    out(
      `3. GetTaskById ${conflict.iD}: executor-4 still has an older copy; the gateway answers "${got.status}"` +
        ` (asked ${trailers.get("dai-executors-asked")}, answered ${trailers.get("dai-executors-answered")}).`,
    );
  }

  const predictId = [...sim.ledger.results.keys()].find((id) =>
    sim.ledger.tasks.find((t) => t.iD === id)?.requester.equals(requester.publicKey),
  );
  if (predictId) {
    const res = await client.getPredictResult({
      pubKey: requester.publicKey,
      taskID: predictId,
      // Signed under the rule of the label holder's generation (the gateway cannot re-sign).
      signature: signWithRule(requester, predictId, generations[sim.ledger.resultHolder.get(predictId)!]!),
    });
    const rows = JSON.parse(Buffer.from(res.payload).toString("utf8")) as string[][];
    const holder = sim.ledger.resultHolder.get(predictId)!;
    out(
      `4. GetPredictResult ${predictId}: routed to the model's label holder executor-${holder} (${generations[holder]}); ${rows.length - 1} rows, header ${JSON.stringify(rows[0])}`,
    );
  }

  // A v3 client's ListTask (v3 layout: the executor key in field 2, limit in field 6), and the v3 HTTP API.
  const v3Key = sim.keys[2]!.publicKey;
  const v3Body = encodeListRequest(
    { pubKey: Buffer.alloc(0), ePubKey: v3Key, status: "", timeStart: 0n, timeEnd: now, limit: 100n },
    "v3",
  );
  const v3List = FLTasks.decode(await rawListTask(target, v3Body));
  const httpReply = await fetch(`http://127.0.0.1:${gw.v3HttpPort}/v1/task/list`, {
    method: "POST",
    body: JSON.stringify({ ePubKey: v3Key.toString("base64"), timeEnd: String(now), limit: 100 }),
  });
  const httpJson = (await httpReply.json()) as { code: string; data: { fLTasks?: unknown[] } };
  out(
    `5. executor-2's tasks asked by a v3 client: gRPC ${v3List.fLTasks.length} tasks; v3 HTTP API code "${httpJson.code}", ${httpJson.data.fLTasks?.length ?? 0} tasks.`,
  );

  out();
  out(`The gateway keeps serving on ${target} (HTTP health on 127.0.0.1:${gw.httpPort}/healthz).`);
  out(`Dashboard: http://127.0.0.1:${gw.httpPort}/   CLI: npx dai-gateway tasks list --host ${target}`);
  out("Try:");
  out(
    `  grpcurl -plaintext -import-path proto -proto task/task.proto -d '{"timeEnd":"${now}"}' ${target} task.Task/ListTask`,
  );
  out("Press Ctrl-C to stop.");

  return async () => {
    channel.close();
    await gw.stop();
    await sim.stop();
  };
}
