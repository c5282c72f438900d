/** The CLI's pure parts: option parsing (usage errors before any call), key files, bytes as hex, call errors. */
import { createECDH } from "node:crypto";
import http from "node:http";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Command, CommanderError } from "commander";
import { ClientError, Status } from "nice-grpc";
import { CliError, describeCallError, getJson, tlsMaterial } from "../../src/cli/connect";
import { DEFAULT_HOST, bytesAsHex, readPrivateKey, registerTaskCommands, withConnection } from "../../src/cli/tasks";

/** A program whose usage errors throw instead of exiting, with stderr kept. */
function program(): { p: Command; err: () => string } {
  let err = "";
  const p = new Command().exitOverride().configureOutput({ writeErr: (s) => (err += s), writeOut: () => undefined });
  registerTaskCommands(p);
  return { p, err: () => err };
}

describe("option parsing", () => {
  test("withConnection's defaults", () => {
    const c = withConnection(new Command().exitOverride()).parse([], { from: "user" });
    expect(c.opts()).toEqual({ host: DEFAULT_HOST, timeout: 15_000 });
    expect(DEFAULT_HOST).toBe("127.0.0.1:8184");
  });

  test.each([
    [["--timeout", "2500"], 2500],
    [["--timeout", "1"], 1],
  ])("--timeout %p", (args, ms) => {
    expect(withConnection(new Command().exitOverride()).parse(args, { from: "user" }).opts().timeout).toBe(ms);
  });

  test.each([
    [["tasks", "list", "--timeout", "0"], "--timeout must be a positive integer"],
    [["tasks", "list", "--timeout", "1.5"], "--timeout must be a positive integer"],
    [["tasks", "list", "--timeout", "abc"], "--timeout must be a positive integer"],
    [["tasks", "list", "--limit", "-1"], "--limit must be an integer >= 0"],
    [["tasks", "list", "--pubkey", "abc"], "expected a public key as 128 hex characters"],
    [["tasks", "list", "--pubkey", "g".repeat(128)], "expected a public key as 128 hex characters"],
    [["tasks", "list", "--pubkey", "a".repeat(129)], "expected a public key as 128 hex characters"],
    [["tasks", "list", "--status", "Done"], "Allowed choices are"],
  ])("usage error before any call: %p", async (args, message) => {
    const { p, err } = program();
    await expect(p.parseAsync(args, { from: "user" })).rejects.toBeInstanceOf(CommanderError);
    expect(err()).toContain(message);
  });
});

describe("bytesAsHex", () => {
  test.each([
    ["a bytes field", "AAH/", new Uint8Array([0, 1, 255]), "0001ff"],
    ["a string stays", "x", "x", "x"],
    ["a number stays", 3, 3, 3],
    ["null stays", null, null, null],
    [
      "nested objects and arrays",
      { requester: "qg==", dataSets: [{ executor: "uw==", address: "a:1" }], n: "5" },
      { requester: Buffer.from([0xaa]), dataSets: [{ executor: Buffer.from([0xbb]), address: "a:1" }], n: 5n },
      { requester: "aa", dataSets: [{ executor: "bb", address: "a:1" }], n: "5" },
    ],
    [
      "JSON keys only (defaults left out of the JSON stay out)",
      { a: "x" },
      { a: "x", b: new Uint8Array([1]) },
      { a: "x" },
    ],
  ])("%s", (_name, json, decoded, out) => {
    expect(bytesAsHex(json, decoded)).toEqual(out);
  });
});

describe("readPrivateKey", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "cli-key-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const fresh = () => {
    const e = createECDH("prime256v1");
    e.generateKeys();
    return { priv: e.getPrivateKey("hex").padStart(64, "0"), pub: e.getPublicKey().subarray(1).toString("hex") };
  };

  test("a key file (hex, surrounding whitespace allowed) and a key directory holding private.key", () => {
    const k = fresh();
    writeFileSync(path.join(dir, "k"), `  ${k.priv.toUpperCase()}\n`);
    expect(readPrivateKey(path.join(dir, "k")).publicKey.toString("hex")).toBe(k.pub);
    mkdirSync(path.join(dir, "keys"));
    writeFileSync(path.join(dir, "keys", "private.key"), k.priv);
    const kp = readPrivateKey(path.join(dir, "keys"));
    expect(kp.privateKey.toString("hex")).toBe(k.priv);
    expect(kp.publicKey.toString("hex")).toBe(k.pub);
  });

  test.each([
    ["missing file", null, /--private-key: cannot read .*nope: ENOENT$/],
    ["not hex", "z".repeat(64), /does not hold a P-256 private key as 64 hex characters/],
    ["too short", "ab".repeat(31), /does not hold a P-256 private key as 64 hex characters/],
    ["zero scalar", "0".repeat(64), /is not a valid P-256 private key/],
  ])("%s: a CliError naming the file", (_name, content, message) => {
    const f = path.join(dir, "nope");
    if (content !== null) writeFileSync(f, content);
    let thrown: unknown;
    try {
      readPrivateKey(f);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(CliError);
    expect((thrown as Error).message).toMatch(message);
    if (content !== null) expect((thrown as Error).message).not.toContain(content); // no key material echoed
  });
});

describe("connect", () => {
  const o = { host: "10.0.0.1:8184", timeout: 1500 };

  test.each([
    ["plain text", {}, undefined],
    ["--tls alone: system roots", { tls: true }, { ca: undefined, cert: undefined, key: undefined }],
  ])("tlsMaterial: %s", (_name, flags, material) => {
    expect(tlsMaterial({ ...o, ...flags })).toEqual(material);
  });

  test("tlsMaterial: --cert without --key, and an unreadable --ca, are one-line errors", () => {
    expect(() => tlsMaterial({ ...o, cert: "/x.pem" })).toThrow(new CliError("--cert and --key go together"));
    expect(() => tlsMaterial({ ...o, key: "/x.pem" })).toThrow("--cert and --key go together");
    expect(() => tlsMaterial({ ...o, ca: "/nonexistent/ca.pem" })).toThrow(
      "cannot read --ca /nonexistent/ca.pem: ENOENT",
    );
  });

  test.each([
    [
      "no connection",
      new ClientError(
        "/task.Task/ListTask",
        Status.UNAVAILABLE,
        "No connection established. Last error: connect ECONNREFUSED 10.0.0.1:8184",
      ),
      /^tasks list: cannot reach a gateway at 10\.0\.0\.1:8184: /,
    ],
    [
      "deadline",
      new ClientError("/task.Task/ListTask", Status.DEADLINE_EXCEEDED, "Deadline exceeded"),
      /^tasks list: no answer from 10\.0\.0\.1:8184 within --timeout 1500 ms$/,
    ],
    [
      "another status",
      new ClientError("/task.Task/ListTask", Status.NOT_FOUND, "task not found"),
      /^tasks list: NOT_FOUND: task not found$/,
    ],
    [
      "AbortSignal.timeout",
      Object.assign(new Error("The operation was aborted due to timeout"), { name: "TimeoutError" }),
      /^tasks list: no answer from 10\.0\.0\.1:8184 within --timeout 1500 ms$/,
    ],
    [
      "an abort",
      Object.assign(new Error("aborted"), { name: "AbortError" }),
      /^tasks list: no answer from 10\.0\.0\.1:8184 within --timeout 1500 ms$/,
    ],
    ["anything else", new Error("boom"), /^tasks list: boom$/],
    ["not even an Error", "weird", /^tasks list: weird$/],
  ])("describeCallError: %s", (_name, err, message) => {
    const e = describeCallError(err, "tasks list", o);
    expect(e).toBeInstanceOf(CliError);
    expect(e.message).toMatch(message);
    expect(e.message).not.toContain("\n");
  });

  test("describeCallError passes a CliError through", () => {
    const e = new CliError("already said");
    expect(describeCallError(e, "x", o)).toBe(e);
  });

  test.each(["localhost:9184/v1/executors", "ftp://10.0.0.1:9184/v1/executors"])(
    "getJson: a --http without http:// or https:// is named as such (%p)",
    async (url) => {
      await expect(getJson(url, o, "executors")).rejects.toThrow(
        `executors: --http: not an http:// or https:// URL: ${url}`,
      );
    },
  );

  test("getJson: --timeout bounds the whole reply, not only each silence between bytes", async () => {
    // A server that answers at once, then sends a byte every 50 ms for 3 s.
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const tick = setInterval(() => res.write(" "), 50);
      setTimeout(() => {
        clearInterval(tick);
        res.end("{}");
      }, 3000);
      res.on("close", () => clearInterval(tick));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      await expect(
        getJson(`http://127.0.0.1:${port}/v1/executors`, { ...o, timeout: 300 }, "executors"),
      ).rejects.toThrow("--timeout 300 ms");
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  test("getJson: a --http that is not a URL", async () => {
    await expect(getJson("not a url/v1/executors", o, "executors")).rejects.toThrow(
      "executors: --http: not a URL: not a url/v1/executors",
    );
  });
});
