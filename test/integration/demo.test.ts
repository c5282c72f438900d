/**
 * `npm run demo` as a newcomer uses it: the built bin runs the demo (free ports, its own
 * directory); every line of its "try it" block is then run as pasted (with `npx
 * dai-gateway` as `node bin/dai-gateway.js`) and must work; the Executor task counts the
 * demo prints are the ones `dai-gateway executors` and GET /v1/executors (the dashboard's
 * source) give.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { BIN, ensureBuilt } from "../helpers/build";

let demo: ChildProcess;
let output = "";
let cwd: string;

function sh(line: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = line.replace(/^npx dai-gateway /, `"${process.execPath}" "${BIN}" `);
  return new Promise((resolve) => {
    execFile("bash", ["-c", script], { cwd, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** Rows of the Executor table (NAME ADDRESS KEY SOURCE HEALTH LATENCY CIRCUIT TASKS ...) -> address -> tasks. */
function taskCounts(text: string): Map<string, string> {
  const rows = text
    .split("\n")
    .map((l) => l.trim().split(/ {2,}/))
    .filter((r) => /^127\.0\.0\.1:\d+$/.test(r[1] ?? ""));
  return new Map(rows.map((r) => [r[1]!, r[7]!]));
}

beforeAll(async () => {
  ensureBuilt();
  cwd = mkdtempSync(path.join(os.tmpdir(), "dai-demo-"));
  demo = spawn(process.execPath, [BIN, "demo", "--port", "0", "--http-port", "0"], { cwd });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo did not finish its queries:\n${output}`)), 60_000);
    demo.stdout!.on("data", (d: Buffer) => {
      output += d.toString("utf8");
      if (output.includes("Press Ctrl-C to stop.")) {
        clearTimeout(timer);
        resolve();
      }
    });
    demo.on("exit", (code) => reject(new Error(`demo exited (${code}):\n${output}`)));
  });
}, 90_000);

afterAll(async () => {
  if (demo && demo.exitCode === null) {
    const exited = new Promise((r) => demo.once("exit", r));
    demo.kill("SIGTERM");
    await exited;
  }
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

function tryIt(): string[] {
  const at = output.indexOf("Try it");
  expect(at).toBeGreaterThan(0);
  return output
    .slice(at)
    .split("\n")
    .slice(1)
    .filter((l) => l.startsWith("  "))
    .map((l) => l.trim());
}

test("the try-it block has list, get, result with a key file and its requester, a curl and the dashboard", () => {
  const lines = tryIt();
  expect(lines.some((l) => /^npx dai-gateway tasks list /.test(l))).toBe(true);
  expect(lines.some((l) => /^npx dai-gateway tasks get [0-9a-f-]{36}/.test(l))).toBe(true);
  expect(
    lines.some((l) => /^npx dai-gateway tasks result \S+ .*-k demo-keys\/requester-0\.key +# requester-0, /.test(l)),
  ).toBe(true);
  expect(lines.some((l) => l.startsWith("curl "))).toBe(true);
  expect(lines.some((l) => /^dashboard: http:\/\/127\.0\.0\.1:\d+\/$/.test(l))).toBe(true);
});

test("every command of the try-it block works when pasted", async () => {
  for (const line of tryIt()) {
    if (line.startsWith("dashboard: ")) {
      const res = await fetch(line.slice("dashboard: ".length));
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("<title>dai-gateway");
      continue;
    }
    const r = await sh(line);
    expect({ line, code: r.code, stderr: r.stderr }).toEqual({ line, code: 0, stderr: "" });
    if (line.includes(" tasks list")) expect(r.stdout).toMatch(/^\d+ task\(s\)$/m);
    if (line.includes(" tasks get")) expect(r.stdout).toMatch(/^Held by: +\d+ of 5 Executors asked: 127\.0\.0\.1:/m);
    if (line.includes(" tasks result")) expect(r.stdout.split("\r\n")[0]).toBe("id,prediction");
    if (line.startsWith("curl ")) expect((JSON.parse(r.stdout) as { code: string }).code).toBe("0");
  }
});

test("the demo's task counts per Executor are those of `executors` and GET /v1/executors", async () => {
  const shown = taskCounts(output);
  expect(shown.size).toBe(5);
  const line = tryIt().find((l) => l.includes(" executors"))!;
  const cli = await sh(line);
  expect(taskCounts(cli.stdout)).toEqual(shown);
  const url = /--http (\S+)/.exec(line)![1]!;
  const json = (await (await fetch(`${url}/v1/executors`)).json()) as {
    data: { executors: { address: string; tasks: number }[] };
  };
  expect(new Map(json.data.executors.map((e) => [e.address, String(e.tasks)]))).toEqual(shown);
});
