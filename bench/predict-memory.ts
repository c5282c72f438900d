/**
 * Resident memory of the gateway while it relays one large prediction result.
 *
 * The gateway runs as its own process (bin/dai-gateway.js serve); two simulated
 * Executors and the client run here. After a warm-up call the gateway's peak-RSS mark
 * is reset (/proc/<pid>/clear_refs), then one payload of --mib MiB is relayed and the
 * new peak (VmHWM) is compared with the resident size before the call (VmRSS).
 *
 *   npm run bench:predict-memory -- --mib 100 --runs 3
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { RAW_TASK_SERVICE } from "../src/api/task-service";
import { signPredictRequest } from "../src/crypto/p256";
import { TaskType } from "../src/gen/common/common";
import { FLTask, PredictResponse, TaskRequest } from "../src/gen/task/task";
import { SimExecutor } from "../src/sim/executor";
import { deterministicKeyPair } from "../src/sim/ledger";

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

function procStatusKiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no ${field} for ${pid}`);
  return Number(m[1]);
}

const identity = (b: Buffer): Buffer => b;

function call(client: grpc.Client, request: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      RAW_TASK_SERVICE.GetPredictResult!.path,
      identity,
      identity,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + 120_000 },
      (err, v) => (err || !v ? reject(err ?? new Error("empty")) : resolve(v)),
    ),
  );
}

async function startGatewayProcess(seeds: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [path.join(__dirname, "..", "..", "bin", "dai-gateway.js"), "serve"], {
    env: {
      ...process.env,
      DAI_GATEWAY_LISTEN: "127.0.0.1:0",
      DAI_GATEWAY_HTTP_LISTEN: "127.0.0.1:0",
      DAI_GATEWAY_EXECUTORS__SEEDS: `[${seeds.join(",")}]`,
      DAI_GATEWAY_EXECUTORS__DISCOVERY_ALLOW: "[127.0.0.1]",
      DAI_GATEWAY_LOG__LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const m = /"grpc":"127\.0\.0\.1:(\d+)"/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.on("exit", (code) => reject(new Error(`gateway exited with ${code}`)));
  });
  child.stdout!.resume();
  return { child, port };
}

async function main(): Promise<void> {
  const mib = arg("mib", 100);
  const runs = arg("runs", 3);
  const owner = new SimExecutor("127.0.0.1", "owner");
  const other = new SimExecutor("127.0.0.1", "other");
  await owner.start();
  await other.start();
  const requester = deterministicKeyPair("bench-predict-requester");
  const key = (i: number) => deterministicKeyPair(`bench-predict-executor-${i}`).publicKey;
  const model = FLTask.fromPartial({
    iD: "bench-model",
    requester: requester.publicKey,
    status: "Finished",
    algoParam: { taskType: TaskType.LEARN },
    dataSets: [
      { address: other.address, executor: key(0), isTagPart: false },
      { address: owner.address, executor: key(1), isTagPart: true },
    ],
  });
  const predict = (id: string) =>
    FLTask.fromPartial({
      iD: id,
      requester: requester.publicKey,
      status: "Finished",
      algoParam: { taskType: TaskType.PREDICT, modelTaskID: "bench-model" },
    });
  for (const e of [owner, other]) {
    for (const t of [model, predict("small"), predict("large")]) e.putRaw(Buffer.from(FLTask.encode(t).finish()));
  }
  owner.setResult("small", Buffer.from('[["id","prediction"]]'));
  const payload = Buffer.alloc(mib * 1024 * 1024, 0x37);
  owner.setResult("large", payload);

  const { child, port } = await startGatewayProcess([other.address]);
  const pid = child.pid!;
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": -1,
  });
  const req = (id: string) =>
    Buffer.from(
      TaskRequest.encode({
        pubKey: requester.publicKey,
        taskID: id,
        signature: signPredictRequest(requester, id),
      }).finish(),
    );
  const results: { run: number; rssBeforeMiB: number; peakMiB: number; growthMiB: number; ms: number }[] = [];
  try {
    await call(client, req("small"));
    const expected = Buffer.from(PredictResponse.encode({ taskID: "large", payload }).finish());
    for (let run = 1; run <= runs; run++) {
      await new Promise((r) => setTimeout(r, 500));
      writeFileSync(`/proc/${pid}/clear_refs`, "5"); // reset the peak-RSS mark
      const before = procStatusKiB(pid, "VmRSS");
      const started = Date.now();
      const body = await call(client, req("large"));
      const ms = Date.now() - started;
      const peak = procStatusKiB(pid, "VmHWM");
      if (!body.equals(expected)) throw new Error("relayed reply differs from what the Executor sent");
      results.push({
        run,
        rssBeforeMiB: +(before / 1024).toFixed(1),
        peakMiB: +(peak / 1024).toFixed(1),
        growthMiB: +((peak - before) / 1024).toFixed(1),
        ms,
      });
    }
    // The same reply straight from the Executor, for the relay's time overhead.
    const direct = new grpc.Client(owner.address, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": -1,
    });
    const startedDirect = Date.now();
    await call(direct, req("large"));
    const directMs = Date.now() - startedDirect;
    direct.close();
    const reply = expected.length;
    process.stdout.write(
      `${JSON.stringify({ bench: "predict-memory", payloadMiB: mib, replyBytes: reply, node: process.version, results, directMs }, null, 1)}\n`,
    );
  } finally {
    client.close();
    child.kill("SIGTERM");
    await owner.stop();
    await other.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
