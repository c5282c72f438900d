/**
 * `dai-gateway tasks ...` and `dai-gateway executors`, run as a person would: the
 * built bin/dai-gateway.js in a child process against a live gateway in front of
 * simulated Executors. Output is parsed; expected values come from the simulated ledger.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
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
    expect(got.fLTasks).toEqual(ledgerInListOrder().map((t) => FLTask.toJSON(t)));
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
  ])("bad usage %j -> one error line, non-zero exit", async (args, message) => {
    const r = await cli(["tasks", "list", ...host, ...args]);
    expect(r.code).not.toBe(0);
    expect(oneErrorLine(r)).toMatch(message);
    expect(r.stdout).toBe("");
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
    const at = lines.findIndex((l) => l.startsWith("Data sets ("));
    const rows = parseTable(lines.slice(at + 1).join("\n"));
    expect(rows[0]).toEqual(["EXECUTOR", "ADDRESS", "DATA ID", "LABELS", "CONFIRMED", "REJECTED"]);
    expect(rows.slice(1).map((r) => [r[1], r[2], r[4], r[5]])).toEqual(
      t.dataSets.map((d) => [d.address, d.dataID, kolkata(d.confirmedAt), kolkata(d.rejectedAt)]),
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
    expect(rows[0]).toEqual(["ADDRESS", "SOURCE", "HEALTH", "LATENCY", "CIRCUIT", "TASKS", "LAST ERROR"]);
    const body = rows.slice(1, -1);
    expect(body.map((x) => x[0]).sort()).toEqual(c.sim.executors.map((e) => e.address).sort());
    expect(body.every((x) => x[2] === "up" && x[4] === "closed")).toBe(true);
    expect(rows[rows.length - 1]![0]).toMatch(/^4 Executor\(s\), 4 up; cache hit ratio: \d{1,3}\.\d%$/);

    const down = c.sim.executors[1]!;
    await down.stop();
    try {
      await new Promise((res) => setTimeout(res, 60));
      const after = await cli(["executors", ...host, ...http, "--json"]);
      expect(after.code).toBe(0);
      const data = JSON.parse(after.stdout) as { executors: { address: string; healthy: boolean }[] };
      expect(data.executors.find((e) => e.address === down.address)!.healthy).toBe(false);
      expect(data.executors.filter((e) => e.healthy)).toHaveLength(3);
    } finally {
      await down.start();
    }
  });

  test("no gateway at --host -> one line, exit 1", async () => {
    const r = await cli(["tasks", "list", "--host", "127.0.0.1:1", "--timeout", "5000"]);
    expect(r.code).toBe(1);
    expect(oneErrorLine(r)).toMatch(/^dai-gateway: tasks list: cannot reach a gateway at 127\.0\.0\.1:1/);
    const e = await cli(["executors", "--http", "http://127.0.0.1:1"]);
    expect(e.code).toBe(1);
    expect(oneErrorLine(e)).toMatch(/ECONNREFUSED/);
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
    expect(oneErrorLine(r)).toMatch(/^dai-gateway: tasks list: cannot reach a gateway at .*TLS handshake failed/);
  });
});
