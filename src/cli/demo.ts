/**
 * `npm run demo`: five simulated Executors (one lagging), a gateway on embedded
 * defaults that knows only one of them, sample queries showing discovery, merging
 * and routing, then the gateway keeps serving.
 */
import { createChannel, createClient, Metadata } from "nice-grpc";
import { TaskDefinition, type FLTask } from "../gen/task/task";
import { parseConfig } from "../config/load";
import { startGateway } from "../gateway";
import { createLogger } from "../log";
import { startSimCluster } from "../sim/cluster";
import { signPredictRequest } from "../crypto/p256";

const out = (s = ""): void => {
  process.stdout.write(`${s}\n`);
};

function nsToIso(ns: bigint): string {
  return ns === 0n ? "-" : new Date(Number(ns / 1_000_000n)).toISOString().replace(".000Z", "Z");
}

export async function runDemo(opts: { port: number; httpPort: number }): Promise<() => Promise<void>> {
  const sim = await startSimCluster({ executors: 5, seed: 7, lagging: [4], trainingTasks: 16 });
  const seed = sim.executors[0]!;
  const config = parseConfig({
    listen: `127.0.0.1:${opts.port}`,
    httpListen: `127.0.0.1:${opts.httpPort}`,
    executors: {
      seeds: [{ address: seed.address, pubKey: sim.keys[0]!.publicKey.toString("hex") }],
      discoveryAllow: ["127.0.0.1/32"],
    },
    log: { level: "warn" },
  });
  const gw = await startGateway(config, createLogger(config.log.level));
  const target = `127.0.0.1:${gw.grpcPort}`;
  const channel = createChannel(target);
  const client = createClient(TaskDefinition, channel);
  const name = new Map(sim.executors.map((e, i) => [e.address, `executor-${i}`]));

  out(`dai-gateway demo: 5 simulated Executors on loopback, gateway on ${target}`);
  out(`The gateway was configured with ONE seed (${name.get(seed.address)} ${seed.address}); the rest are discovered`);
  out(`from the tasks' dataSets[].address (allow-list 127.0.0.1/32). executor-4 lags behind the ledger.\n`);

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
      signature: signPredictRequest(requester, predictId),
    });
    const rows = JSON.parse(Buffer.from(res.payload).toString("utf8")) as string[][];
    const holder = sim.ledger.resultHolder.get(predictId)!;
    out(
      `4. GetPredictResult ${predictId}: routed to the model's label holder executor-${holder}; ${rows.length - 1} rows, header ${JSON.stringify(rows[0])}`,
    );
  }

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
