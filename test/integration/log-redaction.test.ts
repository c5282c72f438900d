/**
 * Logs carry request IDs, Executor addresses and durations, and never a key, a
 * signature or a payload — in hex, base64 or as text — while valid ListTask,
 * GetTaskById and GetPredictResult traffic (and refused predictions) flow through.
 */
import { Writable } from "node:stream";
import { Metadata } from "nice-grpc";
import { signPredictRequest } from "../../src/crypto/p256";
import { createLogger } from "../../src/log";
import { startRig, type ObsRig } from "../helpers/obs-gateway";

jest.setTimeout(30_000);

/** Every encoding of every 12-byte window of a secret (catches truncated prints too). */
function fingerprints(secret: Buffer): string[] {
  const out = new Set<string>();
  const w = Math.min(12, secret.length);
  for (let off = 0; off + w <= secret.length; off++) {
    const part = secret.subarray(off, off + w);
    out.add(part.toString("hex"));
    out.add(part.toString("hex").toUpperCase());
    out.add(part.toString("base64").slice(0, 16));
    out.add(part.toString("base64url").slice(0, 16));
  }
  return [...out];
}

function leaks(text: string, secrets: Record<string, Buffer>): string[] {
  const found: string[] = [];
  for (const [name, secret] of Object.entries(secrets)) {
    if (fingerprints(secret).some((f) => text.includes(f))) found.push(name);
    // Payloads are text (JSON rows); look for them as text as well.
    if (name.startsWith("payload") && text.includes(secret.toString("utf8").slice(0, 24))) found.push(`${name} (text)`);
  }
  return found;
}

type LogLine = Record<string, unknown> & { msg: string; level: number };

describe("logs", () => {
  let rig: ObsRig;
  const lines: string[] = [];
  const secrets: Record<string, Buffer> = {};
  let predictId: string;

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
        done();
      },
    });
    rig = await startRig({ executors: 3, log: createLogger("trace", sink) });
    const { ledger } = rig.sim;
    const requester = ledger.requesters[0]!;
    predictId = [...ledger.results.keys()].find((id) =>
      ledger.tasks.find((t) => t.iD === id)?.requester.equals(requester.publicKey),
    )!;
    expect(predictId).toBeDefined();

    ledger.requesters.forEach((k, i) => {
      secrets[`requester ${i} public key`] = k.publicKey;
      secrets[`requester ${i} private key`] = k.privateKey;
    });
    rig.sim.keys.forEach((k, i) => {
      secrets[`executor ${i} public key`] = k.publicKey;
      secrets[`executor ${i} private key`] = k.privateKey;
    });
    const signature = signPredictRequest(requester, predictId);
    secrets["signature"] = signature;
    for (const [id, payload] of ledger.results) secrets[`payload ${id}`] = payload;

    const md = (id: string): { metadata: Metadata } => ({ metadata: Metadata({ "x-request-id": id }) });
    const now = BigInt(Date.now()) * 1_000_000n;
    await rig.client.listTask({ pubKey: requester.publicKey, timeEnd: now, limit: 50n }, md("req-list-mine"));
    await rig.client.listTask({ pubKey: Buffer.alloc(0), timeEnd: now }, md("req-list-all"));
    await rig.client.getTaskById({ taskID: predictId }, md("req-get"));
    const res = await rig.client.getPredictResult(
      { pubKey: requester.publicKey, taskID: predictId, signature },
      md("req-predict"),
    );
    expect(Buffer.from(res.payload).equals(ledger.results.get(predictId)!)).toBe(true);
    // Refused upstream (bad signature) and failing Executors: the error paths log too.
    const tampered = Buffer.from(signature);
    tampered[5]! ^= 0xff;
    secrets["tampered signature"] = tampered;
    await expect(
      rig.client.getPredictResult(
        { pubKey: requester.publicKey, taskID: predictId, signature: tampered },
        md("req-predict-bad"),
      ),
    ).rejects.toBeDefined();
    rig.sim.executors[1]!.mode = "error";
    // no-cache: the cache would otherwise answer this from the first ListTask.
    await rig.client.listTask(
      { pubKey: requester.publicKey, timeEnd: now },
      { metadata: Metadata({ "x-request-id": "req-list-partial", "dai-cache-control": "no-cache" }) },
    );
  });

  afterAll(async () => {
    await rig?.stop();
  });

  const parsed = (): LogLine[] => lines.map((l) => JSON.parse(l) as LogLine);

  it("contains no key, signature or payload in any encoding", () => {
    expect(lines.length).toBeGreaterThan(10);
    expect(Object.keys(secrets).length).toBeGreaterThan(8);
    expect(leaks(lines.join("\n"), secrets)).toEqual([]);
  });

  it("the leak check itself catches a secret written in any encoding", () => {
    const key = secrets["requester 0 public key"]!;
    for (const text of [key.toString("hex"), key.toString("base64"), `x${key.subarray(20, 40).toString("hex")}`]) {
      expect(leaks(text, { k: key })).toEqual(["k"]);
    }
  });

  it("gives every served call a request ID, method, code and duration", () => {
    const served = parsed().filter((l) => l.msg === "served");
    const ids = served.map((l) => l.requestId);
    expect(ids).toEqual(
      expect.arrayContaining(["req-list-mine", "req-list-all", "req-get", "req-predict", "req-predict-bad"]),
    );
    for (const l of served) {
      expect(typeof l.method).toBe("string");
      expect(typeof l.code).toBe("string");
      expect(typeof l.ms).toBe("number");
    }
  });

  it("carries the request ID into upstream log lines, with Executor address and duration", () => {
    const upstream = parsed().filter((l) => typeof l.executor === "string" && l.msg !== "discovered Executor");
    expect(upstream.length).toBeGreaterThan(0);
    for (const l of upstream) expect(typeof l.requestId).toBe("string");
    const addresses = new Set(rig.sim.executors.map((e) => e.address));
    const answered = upstream.filter((l) => l.msg === "executor answered" && l.requestId === "req-list-mine");
    expect(answered.length).toBe(3);
    for (const l of answered) {
      expect(addresses.has(l.executor as string)).toBe(true);
      expect(typeof l.ms).toBe("number");
    }
    const failed = upstream.filter((l) => l.msg === "executor failed" && l.requestId === "req-list-partial");
    expect(failed.map((l) => l.executor)).toEqual([rig.sim.executors[1]!.address]);
    expect(upstream.some((l) => l.requestId === "req-predict")).toBe(true);
  });
});
