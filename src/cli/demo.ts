/**
 * `npm run demo`: five simulated Executors (one lagging; two of the v3 generation,
 * PaddleDTX main), a gateway on embedded defaults that knows the key of only one of
 * them, sample queries showing discovery, merging and routing across generations,
 * then a "try it" block of commands that work when pasted, while the
 * gateway keeps serving. Executors are named by address, and their task counts come
 * from the gateway's own GET /v1/executors, so the demo, `dai-gateway executors` and
 * the dashboard show the same numbers.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { createChannel, createClient, Metadata } from "nice-grpc";
import { FLTasks, TaskDefinition, type FLTask } from "../gen/task/task";
import { encodeListRequest } from "../generations/list-request";
import { signWithRule } from "../generations/signature";
import { parseConfig } from "../config/load";
import { startGateway } from "../gateway";
import { createLogger } from "../log";
import { startSimCluster } from "../sim/cluster";
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

export async function runDemo(opts: DemoOptions): Promise<() => Promise<void>> {
  // A mixed cluster: the Executors at index 2 and 3 run the v3 generation (PaddleDTX main).
  const generations = ["v2", "v2", "v3", "v3", "v2"] as const;
  const sim = await startSimCluster({
    executors: 5,
    seed: 7,
    lagging: [4],
    trainingTasks: 16,
    versions: [...generations],
  });
  const seed = sim.executors[0]!;
  const v3Executors = [sim.executors[2]!, sim.executors[3]!];
  const config = parseConfig({
    listen: `127.0.0.1:${opts.port}`,
    httpListen: `127.0.0.1:${opts.httpPort}`,
    executors: {
      // A generation is configured, never guessed: the v3 Executors are seeded with theirs.
      seeds: [
        { address: seed.address, pubKey: sim.keys[0]!.publicKey.toString("hex"), name: seed.name },
        ...v3Executors.map((e) => ({ address: e.address, generation: "v3" as const, name: e.name })),
      ],
      discoveryAllow: ["127.0.0.1/32"],
    },
    v3: { listen: "127.0.0.1:0", httpListen: "127.0.0.1:0", allowCors: true },
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
    `tasks' dataSets[].address (allow-list 127.0.0.1/32). The Executor at ${lagging.address} lags behind the ledger.`,
  );
  out(
    `The Executors at ${v3Executors.map((e) => e.address).join(" and ")} run v3 (PaddleDTX main), seeded with their generation;` +
      ` v3 clients also have gRPC 127.0.0.1:${gw.v3GrpcPort} and the v3 HTTP/JSON API http://127.0.0.1:${gw.v3HttpPort}.\n`,
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
  // Signed under the rule of the label holder's generation (the gateway cannot re-sign).
  const predictRule = predictId ? generations[sim.ledger.resultHolder.get(predictId)!]! : "v2";
  if (predictId) {
    const res = await client.getPredictResult({
      pubKey: requester.publicKey,
      taskID: predictId,
      signature: signWithRule(requester, predictId, predictRule),
    });
    const rows = JSON.parse(Buffer.from(res.payload).toString("utf8")) as string[][];
    const holder = sim.executors[sim.ledger.resultHolder.get(predictId)!]!;
    out(
      `4. GetPredictResult ${predictId} (signed by requester-${requesterIndex}, ${predictRule} rule): routed to the model's label holder ${holder.address};` +
        ` ${rows.length - 1} rows, header ${JSON.stringify(rows[0])}`,
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
    `5. The tasks of the Executor at ${sim.executors[2]!.address}, asked by a v3 client: gRPC ${v3List.fLTasks.length} tasks;` +
      ` v3 HTTP API code "${httpJson.code}", ${httpJson.data.fLTasks?.length ?? 0} tasks.`,
  );

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
      `  ${cli} tasks result ${predictId}${hostFlag} -k ${shown(keyFile(requesterIndex))}${predictRule === "v3" ? " --sign v3" : ""}` +
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
