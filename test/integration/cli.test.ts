/**
 * `dai-gateway tasks ...` and `dai-gateway executors`, run as a person would: the
 * built bin/dai-gateway.js in a child process against a live gateway in front of
 * simulated Executors. Output is parsed; expected values come from the simulated ledger.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { RequestPipeline } from "../../src/api/pipeline";
import { createTaskService, RAW_TASK_SERVICE } from "../../src/api/task-service";
import { FLTask } from "../../src/gen/task/task";
import { createLogger } from "../../src/log";
import { compareListOrder } from "../../src/merge/merge";
import { decodeTaskView } from "../../src/wire/task-view";
import { BIN, ensureBuilt } from "../helpers/build";
import { startPeopleCluster, type PeopleCluster } from "../helpers/people-cluster";
import { makeTestPki } from "../helpers/tls";

// A zone without DST and with a half-hour offset, so local-time handling is really exercised.
const TZ = "Asia/Kolkata";
const OFFSET_MS = 5.5 * 3600 * 1000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, TZ }, timeout: 30_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Unix ns -> "YYYY-MM-DD HH:MM:SS" in +05:30, computed without the local time zone. */
function kolkata(ns: bigint): string {
  if (ns === 0n) return "-";
  return new Date(Number(ns / 1_000_000n) + OFFSET_MS).toISOString().slice(0, 19).replace("T", " ");
}

/** Splits a table printed with two-space column gaps. */
function parseTable(text: string): string[][] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => l.split(/ {2,}/));
}

function sh(script: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile("bash", ["-c", script], { env: { ...process.env, TZ }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** protobuf JSON of a task as the CLI prints it: bytes fields as hex. */
function hexJson(t: FLTask): unknown {
  const j = FLTask.toJSON(t) as Record<string, unknown> & { dataSets?: Record<string, unknown>[] };
  const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
  return {
    ...j,
    ...(t.requester.length ? { requester: hex(t.requester) } : {}),
    ...(j.dataSets
      ? {
          dataSets: j.dataSets.map((d, i) => ({
            ...d,
            ...(t.dataSets[i]!.owner.length ? { owner: hex(t.dataSets[i]!.owner) } : {}),
            ...(t.dataSets[i]!.executor.length ? { executor: hex(t.dataSets[i]!.executor) } : {}),
          })),
        }
      : {}),
  };
}

function oneErrorLine(r: Run): string {
  const lines = r.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

let c: PeopleCluster;
let host: string[];
let tmp: string;

beforeAll(async () => {
  ensureBuilt();
  c = await startPeopleCluster({ executors: 4, seed: 31, config: { http: { probeIntervalMs: 50 } } });
  host = ["--host", c.grpcAddress];
  tmp = mkdtempSync(path.join(os.tmpdir(), "dai-cli-"));
}, 120_000);

afterAll(async () => {
  await c?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function ledgerInListOrder(): FLTask[] {
  return c.sim.ledger.tasks
    .map((t) => decodeTaskView(Buffer.from(FLTask.encode(t).finish())))
    .sort(compareListOrder)
    .map((v) => FLTask.decode(v.raw));
}

describe("tasks list", () => {
  test("--json prints the whole cluster as protobuf JSON, newest first", async () => {
    const r = await cli(["tasks", "list", ...host, "--limit", "0", "--json"]);
    expect(r.code).toBe(0);
    const got = JSON.parse(r.stdout) as { fLTasks: unknown[] };
    expect(got.fLTasks).toEqual(ledgerInListOrder().map((t) => hexJson(t)));
  });

  test("--json prints keys as hex, the form --pubkey takes and tasks get shows", async () => {
    const r = await cli(["tasks", "list", ...host, "--limit", "3", "--json"]);
    const got = JSON.parse(r.stdout) as { fLTasks: { requester: string; dataSets: { executor: string }[] }[] };
    const want = ledgerInListOrder().slice(0, 3);
    expect(got.fLTasks.map((t) => t.requester)).toEqual(want.map((t) => t.requester.toString("hex")));
    expect(got.fLTasks[0]!.dataSets.map((d) => d.executor)).toEqual(
      want[0]!.dataSets.map((d) => Buffer.from(d.executor).toString("hex")),
    );
  });

  test("--pubkey takes a key as the table abbreviates it (ellipsis and all)", async () => {
    const table = parseTable((await cli(["tasks", "list", ...host, "--limit", "1"])).stdout);
    const shown = table[1]![5]!;
    expect(shown).toMatch(/^[0-9a-f]{16}…$/);
    const key = c.sim.ledger.tasks.find((t) => t.requester.toString("hex").startsWith(shown.slice(0, -1)))!.requester;
    const r = await cli(["tasks", "list", ...host, "--pubkey", shown, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { fLTasks: { iD: string }[] }).fLTasks.map((t) => t.iD)).toEqual(
      ledgerInListOrder()
        .filter((t) => t.requester.equals(key) || t.dataSets.some((d) => Buffer.from(d.executor).equals(key)))
        .map((t) => t.iD),
    );
    const none = await cli(["tasks", "list", ...host, "--pubkey", "00000000"]);
    expect(none.code).toBe(1);
    expect(oneErrorLine(none)).toMatch(/^dai-gateway: tasks list: --pubkey 00000000…: no key in the cluster's tasks/);
  });

  test("--end with a date alone means the end of that day (so --start D --end D is day D)", async () => {
    const all = ledgerInListOrder();
    const day = kolkata(all[0]!.publishTime).slice(0, 10);
    const want = all.filter((t) => kolkata(t.publishTime).startsWith(day)).map((t) => t.iD);
    expect(want.length).toBeGreaterThan(0);
    const r = await cli(["tasks", "list", ...host, "--start", day, "--end", day, "--limit", "0", "--json"]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { fLTasks: { iD: string }[] }).fLTasks.map((t) => t.iD)).toEqual(want);
  });

  test("writing into a closed pipe (| head, | true) ends quietly, without a stack trace", async () => {
    const id = ledgerInListOrder()[0]!.iD;
    for (const [args, reader] of [
      [`tasks list --host ${c.grpcAddress} --limit 0`, "true"],
      [`tasks get ${id} --host ${c.grpcAddress}`, "true"],
      [`tasks list --host ${c.grpcAddress} --limit 0`, "head -n 1"],
    ] as const) {
      const r = await sh(
        `${process.execPath} ${BIN} ${args} 2>"${tmp}/pipe.err" | ${reader} >/dev/null; echo "$\{PIPESTATUS[0]}"`,
      );
      expect(readFileSync(path.join(tmp, "pipe.err"), "utf8")).toBe("");
      expect(r.stdout.trim()).toBe("0");
    }
  });

  test("the table shows the newest tasks with local publish times, capped by --limit", async () => {
    const r = await cli(["tasks", "list", ...host, "--limit", "5"]);
    expect(r.code).toBe(0);
    const rows = parseTable(r.stdout);
    expect(rows[0]).toEqual(["ID", "NAME", "STATUS", "TYPE", "PUBLISHED", "REQUESTER", "DATASETS"]);
    expect(rows[rows.length - 1]).toEqual(["5 task(s)"]);
    const want = ledgerInListOrder().slice(0, 5);
    const body = rows.slice(1, -1);
    expect(body.map((row) => row[0])).toEqual(want.map((t) => t.iD));
    expect(body.map((row) => row[2])).toEqual(want.map((t) => t.status));
    expect(body.map((row) => row[4])).toEqual(want.map((t) => kolkata(t.publishTime)));
    expect(body.map((row) => row[6])).toEqual(want.map((t) => String(t.dataSets.length)));
  });

  test("--pubkey and --status filter like executor-cli", async () => {
    const key = c.sim.ledger.requesters[0]!.publicKey;
    const want = ledgerInListOrder().filter((t) => t.requester.equals(key) && t.status === "Finished");
    expect(want.length).toBeGreaterThan(0);
    const r = await cli(["tasks", "list", ...host, "--pubkey", key.toString("hex"), "--status", "Finished", "--json"]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { fLTasks: { iD: string }[] }).fLTasks.map((t) => t.iD)).toEqual(
      want.map((t) => t.iD),
    );
  });

  test("--start/--end are local date-times, both ends inclusive", async () => {
    const all = ledgerInListOrder();
    const newer = all[2]!.publishTime;
    const older = all[8]!.publishTime;
    // Whole seconds as a person types them; the expected window is computed from the same seconds.
    const floorSec = (ns: bigint): bigint => (ns / 1_000_000_000n) * 1_000_000_000n;
    const startNs = floorSec(older);
    const endNs = floorSec(newer);
    const want = all.filter((t) => t.publishTime >= startNs && t.publishTime <= endNs).map((t) => t.iD);
    expect(want.length).toBeGreaterThan(2);
    const r = await cli([
      "tasks",
      "list",
      ...host,
      "--start",
      kolkata(startNs),
      "--end",
      kolkata(endNs).replace(" ", "T"),
      "--json",
    ]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { fLTasks: { iD: string }[] }).fLTasks.map((t) => t.iD)).toEqual(want);
  });

  test.each([
    [["--pubkey", "zz"], /--pubkey.*128 hex/],
    [["--status", "Done"], /--status.*Done/],
    [["--limit", "-3"], /--limit/],
    [["--start", "yesterday"], /--start: expected a local date-time/],
    [["--start", "2026-02-30"], /--start: no such date/],
    [["--stats", "Finished"], /^dai-gateway: tasks list: unknown option '--stats' \(did you mean --status\?\)$/],
    [["extra"], /^dai-gateway: tasks list: too many arguments/],
  ])("bad usage %j -> one error line, non-zero exit", async (args, message) => {
    const r = await cli(["tasks", "list", ...host, ...args]);
    expect(r.code).not.toBe(0);
    expect(oneErrorLine(r)).toMatch(message);
    expect(r.stdout).toBe("");
  });
});

describe("usage, help and version", () => {
  test("an unknown command is one line with the suggestion, no usage text", async () => {
    const r = await cli(["task", "list"]);
    expect(r.code).toBe(1);
    expect(oneErrorLine(r)).toBe("dai-gateway: unknown command 'task' (did you mean tasks?)");
    expect(r.stdout).toBe("");
  });

  test("a missing argument names the command", async () => {
    const r = await cli(["tasks", "get"]);
    expect(r.code).toBe(1);
    expect(oneErrorLine(r)).toBe("dai-gateway: tasks get: missing required argument 'taskID'");
  });

  test("--version prints the package version", async () => {
    const pkg = JSON.parse(readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as {
      version: string;
    };
    for (const flag of ["--version", "-V"]) {
      const r = await cli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(pkg.version);
    }
  });

  test.each([
    [[], "dai-gateway tasks list"],
    [["serve"], "dai-gateway serve --config config/local.yaml"],
    [["simulate"], "dai-gateway simulate"],
    [["demo"], "dai-gateway demo"],
    [["tasks", "list"], "dai-gateway tasks list --status"],
    [["tasks", "get"], "dai-gateway tasks get <taskID>"],
    [["tasks", "result"], "dai-gateway tasks result <taskID> -k"],
    [["executors"], "dai-gateway executors"],
  ])("%j --help ends with one example", async (cmd, example) => {
    const r = await cli([...cmd, "--help"]);
    expect(r.code).toBe(0);
    const tail = r.stdout.trimEnd().split("\n").slice(-2);
    expect(tail[0]).toBe("Example:");
    expect(tail[1]!.startsWith(`  $ ${example}`)).toBe(true);
  });
});

describe("tasks get", () => {
  test("shows the task and its data sets with addresses and local decision times", async () => {
    const t =
      c.sim.ledger.tasks.find((x) => x.dataSets.length >= 2 && x.dataSets.some((d) => d.rejectedAt > 0n)) ??
      c.sim.ledger.tasks.find((x) => x.dataSets.length >= 2)!;
    const r = await cli(["tasks", "get", t.iD, ...host]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    const field = (k: string): string =>
      lines
        .find((l) => l.startsWith(`${k}:`))!
        .slice(k.length + 1)
        .trim();
    expect(field("ID")).toBe(t.iD);
    expect(field("Status")).toBe(t.status);
    expect(field("Requester")).toBe(t.requester.toString("hex"));
    expect(field("Published")).toBe(kolkata(t.publishTime));
    const holding = c.sim.executors.filter((e) => e.taskIds().includes(t.iD)).map((e) => e.address);
    expect(field("Held by")).toBe(`${holding.length} of 4 Executors asked: ${[...holding].sort().join(", ")}`);
    const at = lines.findIndex((l) => l.startsWith("Data sets ("));
    const rows = parseTable(lines.slice(at + 1).join("\n"));
    expect(rows[0]).toEqual(["EXECUTOR", "ADDRESS", "HOLDS COPY", "DATA ID", "LABELS", "CONFIRMED", "REJECTED"]);
    expect(rows.slice(1).map((r) => [r[1], r[2], r[3], r[5], r[6]])).toEqual(
      t.dataSets.map((d) => [
        d.address,
        holding.includes(d.address) ? "yes" : "no",
        d.dataID,
        kolkata(d.confirmedAt),
        kolkata(d.rejectedAt),
      ]),
    );
  });

  test("an unknown task -> one error line naming NOT_FOUND, exit 1", async () => {
    const r = await cli(["tasks", "get", "no-such-task", ...host]);
    expect(r.code).toBe(1);
    expect(oneErrorLine(r)).toMatch(/^dai-gateway: tasks get: NOT_FOUND: task no-such-task not found/);
  });
});

describe("tasks result", () => {
  function prediction(): { id: string; privateKeyHex: string; otherKeyHex: string; rows: string[][] } {
    for (const [id, payload] of c.sim.ledger.results) {
      const t = c.sim.ledger.tasks.find((x) => x.iD === id)!;
      const i = c.sim.ledger.requesters.findIndex((r) => r.publicKey.equals(t.requester));
      if (i < 0) continue;
      const other = c.sim.ledger.requesters[(i + 1) % c.sim.ledger.requesters.length]!;
      return {
        id,
        privateKeyHex: c.sim.ledger.requesters[i]!.privateKey.toString("hex"),
        otherKeyHex: other.privateKey.toString("hex"),
        rows: JSON.parse(payload.toString("utf8")) as string[][],
      };
    }
    throw new Error("no prediction result in the simulated ledger");
  }

  /** Minimal RFC 4180 reader for the check (the rows hold no quotes). */
  function readCsv(text: string): string[][] {
    return text
      .split("\r\n")
      .filter((l) => l !== "")
      .map((l) => l.split(","));
  }

  test("signs with the key file and writes the rows as CSV (file or directory with private.key)", async () => {
    const p = prediction();
    const keyFile = path.join(tmp, "requester.key");
    writeFileSync(keyFile, `${p.privateKeyHex}\n`);
    const out = path.join(tmp, "result.csv");
    const r = await cli(["tasks", "result", p.id, ...host, "--private-key", keyFile, "--out", out]);
    expect(r.code).toBe(0);
    expect(readCsv(readFileSync(out, "utf8"))).toEqual(p.rows);

    const dir = path.join(tmp, "keys");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "private.key"), p.privateKeyHex);
    const toStdout = await cli(["tasks", "result", p.id, ...host, "-k", dir]);
    expect(toStdout.code).toBe(0);
    expect(readCsv(toStdout.stdout)).toEqual(p.rows);
  });

  test("another requester's key is refused: one line, exit 1", async () => {
    const p = prediction();
    const keyFile = path.join(tmp, "other.key");
    writeFileSync(keyFile, p.otherKeyHex);
    const r = await cli(["tasks", "result", p.id, ...host, "-k", keyFile]);
    expect(r.code).toBe(1);
    expect(oneErrorLine(r)).toMatch(/tasks result: PERMISSION_DENIED/);
    expect(r.stdout).toBe("");
  });

  test("a key file that is not a hex scalar, or missing, is one clear line", async () => {
    const bad = path.join(tmp, "bad.key");
    writeFileSync(bad, "not a key");
    const r1 = await cli(["tasks", "result", "x", ...host, "-k", bad]);
    expect(r1.code).toBe(1);
    expect(oneErrorLine(r1)).toMatch(/--private-key: .*64 hex characters/);
    const r2 = await cli(["tasks", "result", "x", ...host, "-k", path.join(tmp, "missing.key")]);
    expect(r2.code).toBe(1);
    expect(oneErrorLine(r2)).toMatch(/--private-key: cannot read .*ENOENT/);
  });
});

describe("executors and connection failures", () => {
  test("lists the Executor set with health and task counts; a stopped Executor shows DOWN", async () => {
    const http = ["--http", c.httpBase];
    const r = await cli(["executors", ...host, ...http]);
    expect(r.code).toBe(0);
    const rows = parseTable(r.stdout);
    expect(rows[0]).toEqual([
      "NAME",
      "ADDRESS",
      "KEY",
      "SOURCE",
      "HEALTH",
      "LATENCY",
      "CIRCUIT",
      "TASKS",
      "LAST ERROR",
    ]);
    const body = rows.slice(1, -1);
    const byAddress = new Map(c.sim.executors.map((e, i) => [e.address, { e, i }]));
    expect(body.map((x) => x[1]).sort()).toEqual([...byAddress.keys()].sort());
    for (const row of body) {
      const { e, i } = byAddress.get(row[1]!)!;
      expect(row[0]).toBe(e.name);
      expect(row[2]).toBe(`${c.sim.keys[i]!.publicKey.toString("hex").slice(0, 12)}…`);
      // TASKS: the tasks the Executor takes part in (a ListTask with its own key).
      const key = c.sim.keys[i]!.publicKey;
      const takesPart = e.taskViews().filter((t) => {
        const task = FLTask.decode(t.raw);
        return task.requester.equals(key) || task.dataSets.some((d) => Buffer.from(d.executor).equals(key));
      });
      expect(row[7]).toBe(String(takesPart.length));
    }
    expect(body.every((x) => x[4] === "up" && x[6] === "closed")).toBe(true);
    expect(rows[rows.length - 1]![0]).toMatch(
      new RegExp(
        `^4 Executor\\(s\\), 4 up; cache hit ratio: (\\d{1,3}\\.\\d%|n/a); read from ${c.httpBase}/v1/executors$`,
      ),
    );

    const down = c.sim.executors[1]!;
    await down.stop();
    try {
      await new Promise((res) => setTimeout(res, 60));
      const after = await cli(["executors", ...host, ...http, "--json"]);
      expect(after.code).toBe(0);
      const data = JSON.parse(after.stdout) as {
        executors: { address: string; healthy: boolean; lastError: string | null }[];
      };
      const gone = data.executors.find((e) => e.address === down.address)!;
      expect(gone.healthy).toBe(false);
      expect(data.executors.filter((e) => e.healthy)).toHaveLength(3);
      // LAST ERROR says what happened, without grpc-js's framing ("Last error:", "Resolution note:").
      // (Either transport's words: grpc-js's cleaned, or the node:http2 transport's own.)
      const refused = new RegExp(
        `^(connection to ${down.address} failed: )?connect ECONNREFUSED ${down.address.replace(/\./g, "\\.")}$`,
      );
      expect(gone.lastError).toMatch(refused);
      const table = parseTable((await cli(["executors", ...host, ...http])).stdout);
      expect(table.find((row) => row[1] === down.address)![8]).toMatch(refused);
    } finally {
      await down.start();
    }
  });

  test("no gateway at --host -> one line with the whole cause, exit 1", async () => {
    const r = await cli(["tasks", "list", "--host", "127.0.0.1:1", "--timeout", "5000"]);
    expect(r.code).toBe(1);
    expect(oneErrorLine(r)).toBe(
      "dai-gateway: tasks list: cannot reach a gateway at 127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1",
    );
    const e = await cli(["executors", "--http", "http://127.0.0.1:1"]);
    expect(e.code).toBe(1);
    expect(oneErrorLine(e)).toBe(
      "dai-gateway: executors: cannot read http://127.0.0.1:1/v1/executors: connection refused (ECONNREFUSED)",
    );
  });

  test("executors never guesses another gateway's HTTP port: --host off 8184 needs --http", async () => {
    const r = await cli(["executors", "--host", "127.0.0.1:21184"]);
    expect(r.code).toBe(1);
    expect(oneErrorLine(r)).toBe(
      "dai-gateway: executors: --host 127.0.0.1:21184 is not on the default gRPC port 8184, so its HTTP port is unknown: " +
        "add --http http://127.0.0.1:<port of its httpListen>",
    );
    // On the default port it reads 9184 on that host and says so (nothing listens on 127.0.0.2 here).
    const d = await cli(["executors", "--host", "127.0.0.2:8184", "--timeout", "3000"]);
    expect(d.code).toBe(1);
    expect(oneErrorLine(d)).toMatch(/^dai-gateway: executors: cannot read http:\/\/127\.0\.0\.2:9184\/v1\/executors: /);
  });

  test("a server that never answers -> the host and the time budget, not 'operation aborted'", async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((res) => silent.listen(0, "127.0.0.1", res));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const r = await cli(["tasks", "get", "x", "--host", `127.0.0.1:${port}`, "--timeout", "800"]);
      expect(r.code).toBe(1);
      expect(oneErrorLine(r)).toBe(`dai-gateway: tasks get: no answer from 127.0.0.1:${port} within --timeout 800 ms`);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  test("an HTTP port given as --host -> 'Protocol error' with a hint, no timestamp", async () => {
    const r = await cli(["tasks", "list", "--host", c.httpBase.replace("http://", ""), "--timeout", "5000"]);
    expect(r.code).toBe(1);
    expect(oneErrorLine(r)).toBe(
      `dai-gateway: tasks list: cannot reach a gateway at ${c.httpBase.replace("http://", "")}: ` +
        "Protocol error (not a gRPC server: is this the HTTP port?)",
    );
  });

  test("--ca verifies a TLS-terminated gateway; --tls without the CA fails cleanly", async () => {
    const pki = makeTestPki(tmp);
    const server = new grpc.Server();
    server.addService(
      RAW_TASK_SERVICE,
      createTaskService(
        {
          reader: c.gw.reader,
          predictions: c.gw.predictions,
          pipeline: new RequestPipeline({ defaultDeadlineMs: 10_000 }, createLogger("silent")),
        },
        { maxListTasks: 10_000 },
      ),
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        "127.0.0.1:0",
        grpc.ServerCredentials.createSsl(null, [{ cert_chain: pki.cert, private_key: pki.key }]),
        (err, p) => (err ? reject(err) : resolve(p)),
      ),
    );
    try {
      const tlsHost = ["--host", `127.0.0.1:${port}`, "--timeout", "5000"];
      const ok = await cli(["tasks", "list", ...tlsHost, "--ca", pki.caFile, "--limit", "3", "--json"]);
      expect(ok.stderr).toBe("");
      expect(ok.code).toBe(0);
      expect((JSON.parse(ok.stdout) as { fLTasks: { iD: string }[] }).fLTasks.map((t) => t.iD)).toEqual(
        ledgerInListOrder()
          .slice(0, 3)
          .map((t) => t.iD),
      );
      const untrusted = await cli(["tasks", "list", ...tlsHost, "--tls"]);
      expect(untrusted.code).toBe(1);
      expect(oneErrorLine(untrusted)).toMatch(/^dai-gateway: tasks list: /);
    } finally {
      server.forceShutdown();
    }
  });

  test("--tls against a plain-text gateway fails cleanly", async () => {
    const r = await cli(["tasks", "list", ...host, "--tls", "--timeout", "5000"]);
    expect(r.code).toBe(1);
    expect(oneErrorLine(r)).toBe(
      `dai-gateway: tasks list: cannot reach a gateway at ${c.grpcAddress}: TLS handshake failed (wrong version number)`,
    );
  });
});
