/**
 * `npm run demo`: five simulated Executors (one lagging), a gateway on embedded
 * defaults that knows only one of them, sample queries showing discovery, merging
 * and routing, then a "try it" block of commands that work when pasted, while the
 * gateway keeps serving. Executors are named by address, and their task counts come
 * from the gateway's own GET /v1/executors, so the demo, `dai-gateway executors` and
 * the dashboard show the same numbers.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createChannel, createClient, Metadata } from "nice-grpc";
import { TaskDefinition, type FLTask } from "../gen/task/task";
import { parseConfig } from "../config/load";
import { startGateway } from "../gateway";
import { createLogger } from "../log";
import { startSimCluster } from "../sim/cluster";
import { signPredictRequest } from "../crypto/p256";
import { getJson } from "./connect";
import { DEFAULT_HTTP_PORT, formatExecutors, type ExecutorsData } from "./executors";
import { localTime } from "./format";
import { DEFAULT_GRPC_PORT } from "./tasks";

const out = (s = ""): void => {
  process.stdout.write(`${s}\n`);
};

export interface DemoOptions {
  port: number;
  httpPort: number;
  /** Where the requesters' key files go (default ./demo-keys). */
  keysDir?: string;
}

/** A path as a person types it from the current directory. */
function shown(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : p;
}

export async function runDemo(opts: DemoOptions): Promise<() => Promise<void>> {
  const sim = await startSimCluster({ executors: 5, seed: 7, lagging: [4], trainingTasks: 16 });
  const seed = sim.executors[0]!;
  const config = parseConfig({
    listen: `127.0.0.1:${opts.port}`,
    httpListen: `127.0.0.1:${opts.httpPort}`,
    executors: {
      seeds: [{ address: seed.address, pubKey: sim.keys[0]!.publicKey.toString("hex"), name: seed.name }],
      discoveryAllow: ["127.0.0.1/32"],
    },
    log: { level: "warn" },
  });
  const gw = await startGateway(config, createLogger(config.log.level));
  const target = `127.0.0.1:${gw.grpcPort}`;
  const httpBase = `http://127.0.0.1:${gw.httpPort}`;
  const channel = createChannel(target);
  const client = createClient(TaskDefinition, channel);
  const lagging = sim.executors[4]!;

  out(`dai-gateway demo: 5 simulated Executors on loopback, gateway on ${target} (HTTP ${httpBase})`);
  out(`The gateway was configured with ONE seed (${seed.address}); the rest are discovered from the`);
  out(
    `tasks' dataSets[].address (allow-list 127.0.0.1/32). The Executor at ${lagging.address} lags behind the ledger.\n`,
  );

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
  out(`   Known Executors now: ${gw.registry.size} (${gw.registry.addresses().join(", ")})\n`);

  const byStatus = new Map<string, number>();
  for (const t of all.fLTasks) byStatus.set(t.status, (byStatus.get(t.status) ?? 0) + 1);
  out("   Tasks by status:");
  for (const [s, n] of [...byStatus].sort((a, b) => b[1] - a[1])) out(`     ${s.padEnd(11)} ${"#".repeat(n)} ${n}`);
  out();

  // The same route and the same table as `dai-gateway executors` (TASKS: tasks it takes part in).
  const executorsUrl = `${httpBase}/v1/executors`;
  const status = (await getJson(executorsUrl, { host: target, timeout: 10_000 }, "demo")) as ExecutorsData;
  out("   The Executor set, as `dai-gateway executors` shows it:");
  for (const line of formatExecutors(status, executorsUrl).trimEnd().split("\n")) out(`     ${line}`);
  out();

  out("   Newest 8 tasks (newest first):");
  out(
    `     ${"ID".padEnd(36)}  ${"name".padEnd(12)} ${"status".padEnd(11)} ${"published".padEnd(19)}  Executors (ports)`,
  );
  for (const t of all.fLTasks.slice(0, 8)) {
    const ex = t.dataSets.map((d) => d.address.replace(/^127\.0\.0\.1/, "")).join(",");
    out(`     ${t.iD}  ${t.name.padEnd(12)} ${t.status.padEnd(11)} ${localTime(t.publishTime)}  ${ex}`);
  }
  out();

  const requesterIndex = 0;
  const requester = sim.ledger.requesters[requesterIndex]!;
  const requesterHex = requester.publicKey.toString("hex");
  const mine = await client.listTask(
    { pubKey: requester.publicKey, timeStart: 0n, timeEnd: now, limit: 100n },
    { onTrailer },
  );
  out(
    `2. ListTask by requester-${requesterIndex} ${requesterHex.slice(0, 16)}… (stock-client style, limit 100): ${mine.fLTasks.length} tasks` +
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

  const conflict = sim.ledger.tasks.find(
    (t) => lagging.taskIds().includes(t.iD) && ["Finished", "Failed", "Processing", "Ready"].includes(t.status),
  );
  if (conflict) {
    const got: FLTask = await client.getTaskById({ taskID: conflict.iD }, { onTrailer });
    out(
      `3. GetTaskById ${conflict.iD}: ${lagging.address} still has an older copy; the gateway answers "${got.status}"` +
        ` (asked ${trailers.get("dai-executors-asked")}, answered ${trailers.get("dai-executors-answered")}).`,
    );
  }

  // Key files for every requester, as `tasks result -k` reads them (hex P-256 scalar).
  const keysDir = path.resolve(opts.keysDir ?? "demo-keys");
  mkdirSync(keysDir, { recursive: true });
  const keyFile = (i: number): string => path.join(keysDir, `requester-${i}.key`);
  for (const [i, r] of sim.ledger.requesters.entries())
    writeFileSync(keyFile(i), `${r.privateKey.toString("hex")}\n`, { mode: 0o600 });

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
    const holder = sim.executors[sim.ledger.resultHolder.get(predictId)!]!;
    out(
      `4. GetPredictResult ${predictId} (signed by requester-${requesterIndex}): routed to the model's label holder ${holder.address};` +
        ` ${rows.length - 1} rows, header ${JSON.stringify(rows[0])}`,
    );
  }

  // The "try it" block: every line works when pasted from this directory while the demo runs.
  const cli = "npx dai-gateway";
  const hostFlag = gw.grpcPort === DEFAULT_GRPC_PORT ? "" : ` --host ${target}`;
  const httpFlag = gw.grpcPort === DEFAULT_GRPC_PORT && gw.httpPort === DEFAULT_HTTP_PORT ? "" : ` --http ${httpBase}`;
  const sample = conflict ?? all.fLTasks[0]!;
  out();
  out(
    `The gateway keeps serving on ${target}; key files for the ${sim.ledger.requesters.length} requesters are in ${shown(keysDir)}/.`,
  );
  out("Try it (paste into another terminal, from this directory):");
  out(`  ${cli} tasks list${hostFlag} --limit 5`);
  out(`  ${cli} tasks get ${sample.iD}${hostFlag}`);
  if (predictId)
    out(
      `  ${cli} tasks result ${predictId}${hostFlag} -k ${shown(keyFile(requesterIndex))}` +
        `   # requester-${requesterIndex}, ${requesterHex.slice(0, 12)}…, asked for it`,
    );
  out(`  ${cli} tasks list${hostFlag} --pubkey ${requesterHex.slice(0, 12)}… --status Finished`);
  out(`  ${cli} executors${hostFlag}${httpFlag}`);
  out(`  curl -s -X POST ${httpBase}/v1/task/getbyid -d '{"taskID":"${sample.iD}"}'`);
  out(`  dashboard: ${httpBase}/`);
  out("Press Ctrl-C to stop.");

  return async () => {
    channel.close();
    await gw.stop();
    await sim.stop();
  };
}
