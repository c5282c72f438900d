/**
 * `dai-gateway tasks list|get|result`: the PaddleDTX executor-cli's task commands,
 * against a gateway (so over the whole cluster). Talks gRPC with the generated client.
 */
import { readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { Metadata } from "nice-grpc";
import { keyPairFromPrivate, signPredictRequest, type KeyPair } from "../crypto/p256";
import { algorithmToJSON, taskTypeToJSON } from "../gen/common/common";
import { FLTask, FLTasks } from "../gen/task/task";
import { CliError, connectTasks, describeCallError, type ConnectOptions } from "./connect";
import { localTime, parseLocalTime, shortHex, table, toCsv } from "./format";
import { KNOWN_STATUSES } from "../merge/status";
import { REQUEST_HEADER, TRAILER } from "../api/task-service";

export const DEFAULT_GRPC_PORT = 8184;
export const DEFAULT_HOST = `127.0.0.1:${DEFAULT_GRPC_PORT}`;

/** Adds --host, the TLS flags and --timeout to a command. */
export function withConnection(cmd: Command): Command {
  return cmd
    .option("--host <host:port>", "gateway gRPC address (its `listen`)", DEFAULT_HOST)
    .option("--tls", "use TLS (system CA roots unless --ca)")
    .option("--ca <file>", "PEM CA bundle to verify the gateway (implies --tls)")
    .option("--cert <file>", "PEM client certificate (with --key; implies --tls)")
    .option("--key <file>", "PEM client private key (with --cert)")
    .option("--timeout <ms>", "give up after this long", positiveInt("--timeout"), 15_000);
}

/** A command's one example, shown at the end of its --help. */
export function example(cmd: Command, line: string): Command {
  return cmd.addHelpText("after", `\nExample:\n  $ ${line}\n`);
}

function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`${flag} must be a positive integer`);
    return n;
  };
}

function nonNegativeInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${flag} must be an integer >= 0`);
    return n;
  };
}

/**
 * --pubkey: the whole key as 128 hex characters, or the start of one as the tables show
 * it ("3f9a0c2b1d4e…", at least 8 hex characters, the ellipsis optional), looked up among
 * the keys of the cluster's tasks (requesters and Executors).
 */
export type KeyArg = { key: Buffer } | { prefix: string };

function keyArg(v: string): KeyArg {
  const s = v.trim().replace(/(…|\.\.\.)$/, "");
  if (/^[0-9a-fA-F]{128}$/.test(s)) return { key: Buffer.from(s, "hex") };
  if (/^[0-9a-fA-F]{8,127}$/.test(s)) return { prefix: s.toLowerCase() };
  throw new InvalidArgumentError(
    "expected a public key as 128 hex characters, or its first 8 or more as the tables show it",
  );
}

/** Bytes fields of a protobuf JSON object as hex instead of base64 (keys print as hex everywhere). */
export function bytesAsHex(json: unknown, decoded: unknown): unknown {
  if (decoded instanceof Uint8Array) return Buffer.from(decoded).toString("hex");
  if (Array.isArray(json) && Array.isArray(decoded)) return json.map((j, i) => bytesAsHex(j, decoded[i]));
  if (json && typeof json === "object" && decoded && typeof decoded === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(json)) out[k] = bytesAsHex(v, (decoded as Record<string, unknown>)[k]);
    return out;
  }
  return json;
}

/** Trailers say when some Executors failed; the answer is still printed. */
function partialWarning(trailers: Metadata): string | undefined {
  const failed = trailers.get("dai-executors-failed");
  if (!failed) return undefined;
  const asked = trailers.get("dai-executors-asked") ?? "?";
  const answered = trailers.get("dai-executors-answered") ?? "?";
  return `warning: partial answer: ${answered} of ${asked} Executors answered; failed: ${failed}\n`;
}

function taskType(t: FLTask): string {
  return t.algoParam ? taskTypeToJSON(t.algoParam.taskType) : "-";
}

/**
 * PaddleDTX key files hold the private scalar as hex; a directory is taken as a key
 * directory holding `private.key` (as executor-cli's -k does).
 */
export function readPrivateKey(file: string): KeyPair {
  let p = file;
  let text: string;
  try {
    if (statSync(p).isDirectory()) p = path.join(p, "private.key");
    text = readFileSync(p, "utf8").trim();
  } catch (err) {
    throw new CliError(
      `--private-key: cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  if (!/^[0-9a-fA-F]{64}$/.test(text))
    throw new CliError(`--private-key: ${p} does not hold a P-256 private key as 64 hex characters`);
  try {
    return keyPairFromPrivate(Buffer.from(text, "hex"));
  } catch {
    throw new CliError(`--private-key: ${p} is not a valid P-256 private key`);
  }
}

type ConnOpts = ConnectOptions & { json?: boolean };

async function call<T>(
  o: ConnectOptions,
  what: string,
  fn: (c: ReturnType<typeof connectTasks>) => Promise<T>,
): Promise<T> {
  const conn = connectTasks(o);
  try {
    return await fn(conn);
  } catch (err) {
    throw describeCallError(err, what, o);
  } finally {
    conn.close();
  }
}

/** A --pubkey prefix resolved to the one key of the cluster's tasks that starts with it. */
async function resolveKey(o: ConnectOptions, arg: KeyArg): Promise<Buffer> {
  if ("key" in arg) return arg.key;
  const all = await call(o, "tasks list", (c) =>
    c.client.listTask(
      { pubKey: Buffer.alloc(0), status: "", timeStart: 0n, timeEnd: BigInt(Date.now()) * 1_000_000n, limit: 0n },
      { signal: AbortSignal.timeout(o.timeout) },
    ),
  );
  const found = new Set<string>();
  for (const t of all.fLTasks)
    for (const k of [t.requester, ...t.dataSets.flatMap((d) => [d.executor, d.owner])]) {
      const h = Buffer.from(k).toString("hex");
      if (h.startsWith(arg.prefix)) found.add(h);
    }
  if (found.size === 1) return Buffer.from([...found][0]!, "hex");
  if (found.size === 0)
    throw new CliError(`tasks list: --pubkey ${arg.prefix}…: no key in the cluster's tasks starts with it`);
  throw new CliError(
    `tasks list: --pubkey ${arg.prefix}…: ${found.size} keys start with it; give more characters (or all 128)`,
  );
}

function out(s: string): void {
  process.stdout.write(s);
}

export function registerTaskCommands(program: Command): void {
  const tasks = program
    .command("tasks")
    .description("find tasks across the cluster and fetch prediction results")
    // One clear line on a usage error, not the whole help.
    .showHelpAfterError(false);

  const list = withConnection(
    tasks
      .command("list")
      .description("list tasks, newest first (same filters as executor-cli task list)")
      .option(
        "--pubkey <hex>",
        "requester's or Executor's public key (128 hex, or its first 8+ as tables show it); omitted: the whole cluster",
        keyArg,
      )
      .addOption(new Option("--status <status>", "only tasks in this status").choices(KNOWN_STATUSES))
      .option("--start <time>", "published at or after this local date-time (2026-11-28 14:05:09)")
      .option(
        "--end <time>",
        "published at or before this local date-time; a date alone: the end of that day (default: now)",
      )
      .option("--limit <n>", "at most this many tasks (0: no cap)", nonNegativeInt("--limit"), 100)
      .option("--json", "print protobuf JSON (FLTasks, keys as hex) instead of a table"),
  ).action(async (o: ConnOpts & { pubkey?: KeyArg; status?: string; start?: string; end?: string; limit: number }) => {
    let timeStart: bigint, timeEnd: bigint;
    try {
      timeStart = o.start ? parseLocalTime(o.start, "--start") : 0n;
      timeEnd = o.end ? parseLocalTime(o.end, "--end", { endOfDay: true }) : BigInt(Date.now()) * 1_000_000n;
    } catch (err) {
      throw new CliError(`tasks list: ${(err as Error).message}`);
    }
    if (timeStart > timeEnd) throw new CliError("tasks list: --start is after --end");
    const pubKey = o.pubkey ? await resolveKey(o, o.pubkey) : Buffer.alloc(0);
    let trailers = new Metadata();
    const reply = await call(o, "tasks list", (c) =>
      c.client.listTask(
        { pubKey, status: o.status ?? "", timeStart, timeEnd, limit: BigInt(o.limit) },
        { signal: AbortSignal.timeout(o.timeout), onTrailer: (t) => (trailers = t) },
      ),
    );
    const warning = partialWarning(trailers);
    if (warning) process.stderr.write(warning);
    if (o.json) {
      out(JSON.stringify(bytesAsHex(FLTasks.toJSON(reply), reply), null, 2) + "\n");
      return;
    }
    const rows = reply.fLTasks.map((t) => [
      t.iD,
      t.name || "-",
      t.status,
      taskType(t),
      localTime(t.publishTime),
      shortHex(t.requester),
      String(t.dataSets.length),
    ]);
    out(table(["ID", "NAME", "STATUS", "TYPE", "PUBLISHED", "REQUESTER", "DATASETS"], rows));
    out(`${reply.fLTasks.length} task(s)\n`);
  });
  example(list, "dai-gateway tasks list --status Finished --start 2026-11-28 --end 2026-11-28 --limit 20");

  const get = withConnection(
    tasks
      .command("get")
      .description("show one task: its fields, which Executors hold it, its data sets")
      .argument("<taskID>", "task ID")
      .option("--json", "print protobuf JSON (FLTask, keys as hex)"),
  ).action(async (taskID: string, o: ConnOpts) => {
    let trailers = new Metadata();
    const t = await call(o, "tasks get", (c) =>
      c.client.getTaskById(
        { taskID },
        {
          signal: AbortSignal.timeout(o.timeout),
          metadata: Metadata({ [REQUEST_HEADER.holders]: "true" }),
          onTrailer: (m) => (trailers = m),
        },
      ),
    );
    const warning = partialWarning(trailers);
    if (warning) process.stderr.write(warning);
    if (o.json) {
      out(JSON.stringify(bytesAsHex(FLTask.toJSON(t), t), null, 2) + "\n");
      return;
    }
    const holdingText = trailers.get(TRAILER.holding);
    const holding =
      holdingText === undefined
        ? undefined
        : holdingText
            .split(",")
            .filter((a) => a !== "")
            .sort();
    const ap = t.algoParam;
    const fields: [string, string][] = [
      ["ID", t.iD],
      ["Name", t.name || "-"],
      ["Description", t.description || "-"],
      ["Status", t.status],
      ["Type", taskType(t)],
      ["Algorithm", ap ? algorithmToJSON(ap.algo) : "-"],
      ["Model task", ap?.modelTaskID || "-"],
      ["Requester", t.requester.length ? Buffer.from(t.requester).toString("hex") : "-"],
      ["Published", localTime(t.publishTime)],
      ["Started", localTime(t.startTime)],
      ["Ended", localTime(t.endTime)],
      ["Error", t.errMessage || "-"],
      ["Result", t.result || "-"],
      [
        "Held by",
        holding === undefined
          ? "unknown (this gateway does not report holders)"
          : `${holding.length} of ${trailers.get(TRAILER.asked) ?? "?"} Executors asked: ${holding.join(", ") || "-"}`,
      ],
    ];
    for (const [k, v] of fields) out(`${`${k}:`.padEnd(13)}${v}\n`);
    out(`\nData sets (${t.dataSets.length}):\n`);
    out(
      table(
        ["EXECUTOR", "ADDRESS", "HOLDS COPY", "DATA ID", "LABELS", "CONFIRMED", "REJECTED"],
        t.dataSets.map((d) => [
          shortHex(d.executor),
          d.address || "-",
          holding === undefined ? "?" : holding.includes(d.address) ? "yes" : "no",
          d.dataID || "-",
          d.isTagPart ? "yes" : "no",
          localTime(d.confirmedAt),
          localTime(d.rejectedAt),
        ]),
      ),
    );
  });
  example(get, "dai-gateway tasks get <taskID> --host 127.0.0.1:8184");

  const result = withConnection(
    tasks
      .command("result")
      .description("fetch a prediction task's result, signed with the requester's private key, as CSV")
      .argument("<taskID>", "prediction task ID")
      .requiredOption("-k, --private-key <file>", "requester's private key file (hex P-256 scalar) or key directory")
      .option("-o, --out <file>", "write the CSV here (default: standard output)")
      .option("--raw", "write the payload bytes as the Executor sent them instead of CSV"),
  ).action(async (taskID: string, o: ConnOpts & { privateKey: string; out?: string; raw?: boolean }) => {
    const kp = readPrivateKey(o.privateKey);
    const reply = await call(o, "tasks result", (c) =>
      c.client.getPredictResult(
        { pubKey: kp.publicKey, taskID, signature: signPredictRequest(kp, taskID) },
        { signal: AbortSignal.timeout(o.timeout) },
      ),
    );
    const payload = Buffer.from(reply.payload);
    let bytes: Buffer;
    if (o.raw) bytes = payload;
    else {
      let rows: unknown;
      try {
        rows = JSON.parse(payload.toString("utf8"));
      } catch {
        rows = undefined;
      }
      if (!Array.isArray(rows) || !rows.every((r) => Array.isArray(r))) {
        throw new CliError("tasks result: the payload is not a JSON array of rows; use --raw to save it as is");
      }
      bytes = Buffer.from(toCsv(rows as unknown[][]), "utf8");
    }
    if (o.out) {
      try {
        writeFileSync(o.out, bytes);
      } catch (err) {
        throw new CliError(
          `--out: cannot write ${o.out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
      process.stderr.write(`wrote ${bytes.length} bytes to ${o.out}\n`);
    } else process.stdout.write(bytes);
  });
  example(result, "dai-gateway tasks result <taskID> -k ./demo-keys/requester-0.key -o result.csv");
}
