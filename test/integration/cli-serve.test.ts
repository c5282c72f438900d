/**
 * `dai-gateway serve` and `simulate` as a newcomer runs them (README, "Running it"): the
 * built bin in a child process. Start-up problems are one line naming what to fix; the
 * shipped config/local.yaml fits `simulate --seed 1 --base-port 7101`; a stop is logged.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { parseConfig } from "../../src/config/load";
import { BIN, ROOT, ensureBuilt } from "../helpers/build";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Environment without the caller's DAI_GATEWAY_* (they would change the config). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("DAI_GATEWAY_")) env[k] = v;
  return { ...env, ...extra };
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: cleanEnv(env), timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Runs `serve` until `until(stdout)` holds, then SIGTERM; resolves with everything it printed. */
function serveUntil(args: string[], env: Record<string, string>, until: (out: string) => boolean): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "serve", ...args], { env: cleanEnv(env) });
    let stdout = "";
    let stderr = "";
    let signalled = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`serve did not get there in time:\n${stdout}\n${stderr}`));
    }, 20_000);
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString("utf8");
      if (!signalled && until(stdout)) {
        signalled = true;
        child.kill("SIGTERM");
      }
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

function logLines(out: string): { level: number; msg: string; time?: string; [k: string]: unknown }[] {
  return out
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { level: number; msg: string });
}

let tmp: string;

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(os.tmpdir(), "dai-serve-"));
}, 120_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function configFile(name: string, yaml: string): string {
  const file = path.join(tmp, name);
  writeFileSync(file, yaml);
  return file;
}

const FREE = "listen: 127.0.0.1:0\nhttpListen: 127.0.0.1:0\n";

test("no seeds: serve warns at start that every answer will be empty; SIGTERM logs stopping, then stopped", async () => {
  const r = await serveUntil(["-c", configFile("none.yaml", FREE)], {}, (o) => o.includes('"gateway listening"'));
  expect(r.code).toBe(0);
  const lines = logLines(r.stdout);
  const warn = lines.find((l) => l.level === 40 && /no Executors configured/.test(l.msg));
  expect(warn).toBeDefined();
  expect(warn!.key).toBe("executors.seeds");
  // In time order (a line logged just before the signal may reach the pipe just after).
  const byTime = [...lines].sort((a, b) => String(a.time).localeCompare(String(b.time)));
  expect(byTime.map((l) => l.msg).slice(-2)).toEqual(["stopping", "stopped"]);
  expect(r.stderr).toBe("");
});

test.each([
  ["listen", (p: number) => `listen: 127.0.0.1:${p}\nhttpListen: 127.0.0.1:0\n`],
  ["httpListen", (p: number) => `listen: 127.0.0.1:0\nhttpListen: 127.0.0.1:${p}\n`],
])("a port in use (%s) is one line naming the key, no grpc-js noise", async (key, yaml) => {
  const busy = net.createServer();
  await new Promise<void>((res) => busy.listen(0, "127.0.0.1", res));
  const port = (busy.address() as net.AddressInfo).port;
  try {
    const r = await cli(["serve", "-c", configFile(`busy-${key}.yaml`, yaml(port))], {
      DAI_GATEWAY_LOG__LEVEL: "warn",
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `dai-gateway: serve: ${key} 127.0.0.1:${port}: address already in use (another process listens there; pick another port)\n`,
    );
  } finally {
    busy.close();
  }
});

test("an env override of a list that is not [...] names the variable and shows the flow-list form", async () => {
  const r = await cli(["serve", "-c", configFile("env.yaml", FREE)], {
    DAI_GATEWAY_EXECUTORS__SEEDS: "127.0.0.1:27101",
  });
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(
    "dai-gateway: serve: DAI_GATEWAY_EXECUTORS__SEEDS: executors.seeds is a list: write it as a YAML flow list, " +
      "e.g. DAI_GATEWAY_EXECUTORS__SEEDS='[127.0.0.1:27101]'\n",
  );
});

test("config/local.yaml seeds exactly what `simulate --seed 1 --base-port 7101` runs, on the README's ports", async () => {
  const local = parseConfig(parseYaml(readFileSync(path.join(ROOT, "config", "local.yaml"), "utf8")));
  expect(local.listen).toBe("127.0.0.1:8184");
  expect(local.httpListen).toBe("127.0.0.1:9184");
  // simulate on free ports prints the same names and keys (they depend on --seed only).
  const child = spawn(process.execPath, [BIN, "simulate", "--executors", "5", "--seed", "1", "--base-port", "0"], {
    env: cleanEnv(),
  });
  let out = "";
  await new Promise<void>((resolve) => {
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString("utf8");
      if (out.includes("requester-2")) resolve();
    });
  });
  child.kill("SIGTERM");
  const printed = [...out.matchAll(/^ {2}(executor-\d) {2}127\.0\.0\.1:\d+ {2}v2 {2}key ([0-9a-f]{128})$/gm)].map(
    (m) => ({
      name: m[1],
      pubKey: m[2],
    }),
  );
  expect(printed).toHaveLength(5);
  expect(local.executors.seeds).toEqual(
    printed.map((p, i) => ({ name: p.name, address: `127.0.0.1:${7101 + i}`, pubKey: p.pubKey })),
  );
  // Each requester's key is printed with the requester it belongs to.
  expect(out).toMatch(/requester-0 {2}public [0-9a-f]{128}\n {15}private [0-9a-f]{64}\n/);

  // serve with it starts and knows the five Executors (ports moved off 8184/9184 for the test).
  const r = await serveUntil(
    ["-c", path.join(ROOT, "config", "local.yaml")],
    { DAI_GATEWAY_LISTEN: "127.0.0.1:0", DAI_GATEWAY_HTTP_LISTEN: "127.0.0.1:0" },
    (o) => o.includes('"gateway listening"'),
  );
  expect(r.code).toBe(0);
  const listening = logLines(r.stdout).find((l) => l.msg === "gateway listening")!;
  expect(listening.executors).toBe(5);
});

test("simulate on a port in use is one line naming --base-port and the busy address", async () => {
  const busy = net.createServer();
  await new Promise<void>((res) => busy.listen(0, "127.0.0.1", res));
  const port = (busy.address() as net.AddressInfo).port;
  try {
    const r = await cli(["simulate", "--executors", "2", "--base-port", String(port)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `dai-gateway: simulate: --base-port ${port}: 127.0.0.1:${port} is already in use ` +
        "(pick another --base-port, or 0 for free ports)\n",
    );
  } finally {
    busy.close();
  }
});

test("`npx dai-gateway` runs the checkout's own bin, offline (as the README's examples use it)", async () => {
  const r = await new Promise<Run>((resolve) => {
    execFile(
      "npx",
      ["--offline", "dai-gateway", "--version"],
      { cwd: ROOT, env: cleanEnv(), timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
    );
  });
  expect(r.code).toBe(0);
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
  expect(r.stdout.trim()).toBe(pkg.version);
}, 90_000);
