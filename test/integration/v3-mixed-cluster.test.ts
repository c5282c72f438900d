/**
 * One gateway in front of a mixed cluster (two v2 and two v3 simulated Executors), with
 * v2 clients, v3 clients (on `v3.listen` and on the main port), the v3 executor-cli's
 * exact request shape and a v3 HTTP client. Every answer must equal the answer of one
 * Executor *of the client's own generation* holding the union of the ledgers (a
 * simulated Executor started here with every task). Client requests are raw bytes from
 * the test's own writer (test/helpers/wire-writer.ts), not the gateway's codec; the v3
 * HTTP replies are compared with JSON this file derives from spec §10's rules.
 */
import http2 from "node:http2";
import path from "node:path";
import { gzipSync } from "node:zlib";
import * as grpc from "@grpc/grpc-js";
import { status as Status } from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import fc from "fast-check";
import { testConfig } from "../helpers/test-config";
import { startGateway, type RunningGateway } from "../../src/gateway";
import { FLTask, TaskRequest } from "../../src/gen/task/task";
import { signWithRule } from "../../src/generations/signature";
import { createLogger } from "../../src/log";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import { SimExecutor } from "../../src/sim/executor";
import type { KeyPair } from "../../src/crypto/p256";
import { flTasksOf, RawClient } from "../helpers/raw-client";
import { bytesOf, involves, refList, refMerge } from "../helpers/reference";
import { listRequestBytes, type ListFields } from "../helpers/wire-writer";

const GENERATIONS = ["v2", "v2", "v3", "v3"] as const;
const MAX_I64 = 9_223_372_036_854_775_807n;
const STATUSES = ["", "Confirming", "Ready", "ToProcess", "Processing", "Finished", "Failed", "Rejected"];

let sim: SimCluster;
let gw: RunningGateway;
let main: RawClient;
let v3port: RawClient;
let http: string;
let apiServer: string;
const union: Record<"v2" | "v3", SimExecutor> = {} as never;
let unionClients: Record<"v2" | "v3", RawClient>;
let all: FLTask[];

beforeAll(async () => {
  sim = await startSimCluster({ executors: 4, seed: 27, trainingTasks: 18, versions: [...GENERATIONS] });
  all = refMerge(sim.ledger.tasks);
  for (const g of ["v2", "v3"] as const) {
    const e = new SimExecutor("127.0.0.1", `union-${g}`);
    e.version = g;
    for (const t of all) e.putRaw(bytesOf(t));
    for (const [id, payload] of sim.ledger.results) e.setResult(id, payload);
    await e.start();
    union[g] = e;
  }
  unionClients = {
    v2: new RawClient(union.v2.address),
    v3: new RawClient(union.v3.address),
  };
  const config = testConfig({
    listen: "127.0.0.1:0",
    httpListen: "127.0.0.1:0",
    executors: {
      seeds: sim.executors.map((e, i) => ({
        address: e.address,
        pubKey: sim.keys[i]!.publicKey.toString("hex"),
        generation: GENERATIONS[i],
      })),
      discoveryAllow: ["127.0.0.1/32"],
      callTimeoutMs: 3000,
    },
    api: { generation: "v2" },
    v3: { listen: "127.0.0.1:0", httpListen: "127.0.0.1:0", allowCors: true },
    log: { level: "silent" },
  });
  apiServer = config.api.server;
  gw = await startGateway(config, createLogger(process.env.GW_LOG ?? "silent"));
  main = new RawClient(`127.0.0.1:${gw.grpcPort}`);
  v3port = new RawClient(`127.0.0.1:${gw.v3GrpcPort}`);
  http = `http://127.0.0.1:${gw.v3HttpPort}`;
});

afterAll(async () => {
  main?.close();
  v3port?.close();
  unionClients?.v2.close();
  unionClients?.v3.close();
  await gw?.stop();
  await union.v2?.stop();
  await union.v3?.stop();
  await sim?.stop();
});

/** A ListTask whose message is flagged compressed (gzip): the own server refuses it from its prefix. */
async function compressedListTask(port: number, message: Buffer): Promise<http2.IncomingHttpHeaders> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const body = gzipSync(message);
    const frame = Buffer.alloc(5 + body.length);
    frame[0] = 1;
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    const req = session.request({
      ":method": "POST",
      ":path": "/task.Task/ListTask",
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-encoding": "gzip",
    });
    const headers = new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      let first: http2.IncomingHttpHeaders = {};
      req.on("response", (h) => (first = h));
      req.on("trailers", (t) => (first = { ...first, ...t }));
      req.on("close", () => resolve(first));
      req.on("error", reject);
    });
    req.resume();
    req.end(frame);
    return await headers;
  } finally {
    session.close();
  }
}

const requesters = (): Buffer[] => sim.ledger.requesters.map((k) => k.publicKey);
const executorKeys = (): Buffer[] => sim.keys.map((k) => k.publicKey);
const times = (): bigint[] => {
  const ts = all.map((t) => t.publishTime).sort((a, b) => (a < b ? -1 : 1));
  return [ts[0]!, ts[Math.floor(ts.length / 3)]!, ts[Math.floor((2 * ts.length) / 3)]!];
};

const common = () =>
  fc.record({
    status: fc.constantFrom(...STATUSES),
    timeStart: fc.constantFrom(0n, ...times()),
    // 0 and below: no upper bound / no cap, on both generations (v2.0.0 and later, spec §4).
    timeEnd: fc.constantFrom(MAX_I64, 0n, -1n, ...times()),
    limit: fc.constantFrom(0n, -1n, 1n, 3n, 100n),
  });

const v2Request = (): fc.Arbitrary<ListFields> =>
  fc
    .tuple(fc.constantFrom(...requesters(), ...executorKeys()), common())
    .map(([pubKey, c]) => ({ pubKey, ePubKey: Buffer.alloc(0), ...c }));

const v3Request = (): fc.Arbitrary<ListFields> =>
  fc
    .tuple(
      fc.constantFrom(Buffer.alloc(0), ...requesters(), ...executorKeys()),
      fc.constantFrom(Buffer.alloc(0), ...executorKeys()),
      common(),
    )
    .filter(([r, e]) => r.length > 0 || e.length > 0)
    .map(([pubKey, ePubKey, c]) => ({ pubKey, ePubKey, ...c }));

async function same(client: RawClient, generation: "v2" | "v3", body: Buffer): Promise<void> {
  const [got, want] = await Promise.all([
    client.call("ListTask", body),
    unionClients[generation].call("ListTask", body),
  ]);
  expect(got.code).toBe(Status.OK);
  expect(want.code).toBe(Status.OK);
  expect(got.body!.toString("hex")).toBe(want.body!.toString("hex"));
}

describe("ListTask across generations", () => {
  test("the cluster really is mixed, and every Executor is asked in its own layout", async () => {
    expect(sim.executors.map((e) => e.generation)).toEqual([...GENERATIONS]);
    const r = await main.call("ListTask", listRequestBytes("v2", { ...anyFields(), pubKey: requesters()[0]! }));
    expect(r.code).toBe(Status.OK);
    expect(r.trailers["dai-executors-answered"]).toBe("4");
    // A v3 Executor asked in the v2 layout would have read v2's limit as its timeEnd and answered nothing.
    expect(r.body!.length).toBeGreaterThan(0);
  });

  test("v2 clients on the main port: every answer equals a v2 Executor's holding the union", async () => {
    await fc.assert(
      fc.asyncProperty(v2Request(), async (f) => same(main, "v2", listRequestBytes("v2", f))),
      { numRuns: 40 },
    );
  });

  test("v3 clients on v3.listen: every answer equals a v3 Executor's holding the union (one key or both)", async () => {
    await fc.assert(
      fc.asyncProperty(v3Request(), async (f) => same(v3port, "v3", listRequestBytes("v3", f))),
      { numRuns: 60 },
    );
  });

  test("v3 clients on the main port, when the request shows its layout (a limit, a status or a raw executor key)", async () => {
    await fc.assert(
      fc.asyncProperty(
        v3Request().filter((f) => f.limit !== 0n || f.status !== "" || f.ePubKey.length > 0),
        async (f) => same(main, "v3", listRequestBytes("v3", f)),
      ),
      { numRuns: 40 },
    );
  });

  test("a client generated from a v3 proto (proto-loader/protobufjs, not our codec) on both ports", async () => {
    const def = protoLoader.loadSync(path.join(__dirname, "..", "helpers", "task_v3.proto"), { longs: String });
    const Task = (grpc.loadPackageDefinition(def).task as grpc.GrpcObject).Task as grpc.ServiceClientConstructor;
    const e = executorKeys()[3]!;
    const r = requesters()[2]!;
    for (const port of [gw.grpcPort, gw.v3GrpcPort!]) {
      const client = new Task(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
        ListTask: (
          req: object,
          opts: grpc.CallOptions,
          cb: (err: Error | null, v: { fLTasks: Buffer[] }) => void,
        ) => void;
      };
      try {
        for (const req of [
          { ePubKey: e, timeEnd: String(MAX_I64), limit: "50" },
          { pubKey: r, ePubKey: e, status: "Finished", timeEnd: "0" },
          { pubKey: r, timeStart: String(times()[1]), timeEnd: String(MAX_I64), limit: "2" },
        ]) {
          const got = await new Promise<{ fLTasks: Buffer[] }>((resolve, reject) =>
            client.ListTask(req, { deadline: Date.now() + 5000 }, (err: Error | null, v: { fLTasks: Buffer[] }) =>
              err ? reject(err) : resolve(v),
            ),
          );
          const want = await unionClients.v3.call(
            "ListTask",
            listRequestBytes("v3", {
              pubKey: req.pubKey ?? Buffer.alloc(0),
              ePubKey: req.ePubKey ?? Buffer.alloc(0),
              status: req.status ?? "",
              timeStart: BigInt(req.timeStart ?? 0),
              timeEnd: BigInt(req.timeEnd),
              limit: BigInt(req.limit ?? 0),
            }),
          );
          expect(flTasksOf(got.fLTasks).toString("hex")).toBe(want.body!.toString("hex"));
        }
      } finally {
        client.close();
      }
    }
  });

  test("api.server http2: v3.listen is the own server too (it refuses a compressed request as the main port does), v3 answers kept", async () => {
    if (apiServer !== "http2") return;
    const f = {
      pubKey: requesters()[0]!,
      ePubKey: executorKeys()[1]!,
      status: "",
      timeStart: 0n,
      timeEnd: MAX_I64,
      limit: 3n,
    };
    const bytes = listRequestBytes("v3", f);
    for (const port of [gw.grpcPort, gw.v3GrpcPort!]) {
      const h = await compressedListTask(port, Buffer.from(bytes));
      expect(h["grpc-status"]).toBe(String(Status.UNIMPLEMENTED));
      expect(h["grpc-accept-encoding"]).toBe("identity");
    }
    // Repeated hits on the v3 port: the v3 reading of the request, byte for byte a v3 Executor's answer.
    const want = (await unionClients.v3.call("ListTask", bytes)).body!;
    for (let i = 0; i < 3; i++) {
      const got = await v3port.call("ListTask", bytes);
      expect(got.body!.toString("hex")).toBe(want.toString("hex"));
    }
    expect((await v3port.call("ListTask", bytes)).trailers["dai-cache"]).toBe("hit");
  });

  test("the v3 executor-cli's exact request (ePubKey from its key file, timeEnd now in whole seconds, limit 100)", async () => {
    const nowNs = BigInt(Math.floor(Date.now() / 1000)) * 1_000_000_000n;
    for (const e of executorKeys()) {
      for (const r of [Buffer.alloc(0), requesters()[1]!]) {
        const body = listRequestBytes("v3", {
          pubKey: r,
          ePubKey: e,
          status: "",
          timeStart: 0n,
          timeEnd: nowNs,
          limit: 100n,
        });
        await same(main, "v3", body);
        await same(v3port, "v3", body);
      }
    }
  });

  test("the stock v2 executor-cli's request on the main port (timeEnd now, limit 100)", async () => {
    const nowNs = BigInt(Math.floor(Date.now() / 1000)) * 1_000_000_000n;
    for (const k of executorKeys()) {
      await same(
        main,
        "v2",
        listRequestBytes("v2", {
          pubKey: k,
          ePubKey: Buffer.alloc(0),
          status: "",
          timeStart: 0n,
          timeEnd: nowNs,
          limit: 100n,
        }),
      );
    }
  });

  test("the cluster-wide view (no key) is the same for v2 and v3 clients", async () => {
    const a = await main.call("ListTask", listRequestBytes("v2", anyFields()));
    const b = await v3port.call("ListTask", listRequestBytes("v3", anyFields()));
    expect(a.code).toBe(Status.OK);
    expect(b.body!.equals(a.body!)).toBe(true);
    const expected = refList(
      all,
      { pubKey: Buffer.alloc(0), status: "", timeStart: 0n, timeEnd: MAX_I64, limit: 0n },
      true,
    );
    expect(a.body!.equals(flTasksOf(expected.map(bytesOf)))).toBe(true);
  });

  test("a request mixing both layouts is refused with INVALID_ARGUMENT naming the fields", async () => {
    const body = Buffer.from([0x18, 0x05, 0x30, 0x0a]); // field 3 varint (v2) + field 6 varint (v3)
    const r = await main.call("ListTask", body);
    expect(r.code).toBe(Status.INVALID_ARGUMENT);
    expect(r.details).toMatch(/mixes the v2 and v3 layouts.*field 3.*field 6/);
  });
});

describe("GetTaskById across generations", () => {
  test("each task reads the same through either listener as from a union Executor", async () => {
    const getBody = (id: string) => Buffer.concat([Buffer.from([0x0a, Buffer.byteLength(id)]), Buffer.from(id)]);
    for (const t of all.slice(0, 12)) {
      const want = await unionClients.v3.call("GetTaskById", getBody(t.iD));
      for (const c of [main, v3port]) {
        const got = await c.call("GetTaskById", getBody(t.iD));
        expect(got.body!.equals(want.body!)).toBe(true);
      }
    }
  });
});

describe("the Executor status route", () => {
  test("GET /v1/executors counts each Executor's tasks in its own layout and names its generation", async () => {
    const r = await fetch(`http://127.0.0.1:${gw.httpPort}/v1/executors`);
    const body = (await r.json()) as { data: { executors: { address: string; tasks: number; generation: string }[] } };
    for (const [i, e] of sim.executors.entries()) {
      const row = body.data.executors.find((x) => x.address === e.address)!;
      const expected = all.filter((t) => involves(t, sim.keys[i]!.publicKey)).length;
      // A v3 Executor probed in the v2 layout reads timeEnd as timeStart and counts 0.
      expect([e.address, row.generation, row.tasks]).toEqual([e.address, GENERATIONS[i], expected]);
    }
  });
});

// ---------- predictions ----------

interface PredictCase {
  task: FLTask;
  kp: KeyPair;
  owner: number;
  generation: "v2" | "v3";
}

function predictCases(): PredictCase[] {
  const out: PredictCase[] = [];
  for (const [id, holder] of sim.ledger.resultHolder) {
    const task = all.find((t) => t.iD === id)!;
    if (task.status !== "Finished") continue;
    const kp = sim.ledger.requesters.find((k) => k.publicKey.equals(task.requester))!;
    out.push({ task, kp, owner: holder, generation: GENERATIONS[holder]! });
  }
  return out;
}

const predictBody = (c: PredictCase, rule: "v2" | "v3"): Buffer =>
  Buffer.from(
    TaskRequest.encode({
      pubKey: c.kp.publicKey,
      taskID: c.task.iD,
      signature: signWithRule(c.kp, c.task.iD, rule),
    }).finish(),
  );

describe("GetPredictResult across generations", () => {
  test("results held by v2 and by v3 Executors exist in this ledger", () => {
    const gens = new Set(predictCases().map((c) => c.generation));
    expect([...gens].sort()).toEqual(["v2", "v3"]);
  });

  test("signed with the owner's rule: relayed, the reply equals the union Executor's of that generation", async () => {
    for (const c of predictCases()) {
      const body = predictBody(c, c.generation);
      const [got, want] = await Promise.all([
        main.call("GetPredictResult", body),
        unionClients[c.generation].call("GetPredictResult", body),
      ]);
      expect([c.task.iD, got.code]).toEqual([c.task.iD, Status.OK]);
      expect(got.body!.equals(want.body!)).toBe(true);
    }
  });

  test("signed with the other generation's rule: FAILED_PRECONDITION saying why, never forwarded", async () => {
    for (const c of predictCases()) {
      const other = c.generation === "v2" ? "v3" : "v2";
      for (const e of sim.executors) e.resetCalls();
      const r = await v3port.call("GetPredictResult", predictBody(c, other));
      expect(r.code).toBe(Status.FAILED_PRECONDITION);
      expect(r.details).toContain(`signed under the ${other} rule`);
      expect(r.details).toContain(`is ${c.generation} and accepts only`);
      expect(sim.executors.map((e) => e.calls.GetPredictResult)).toEqual([0, 0, 0, 0]);
    }
  });

  test("a signature valid under neither rule: UNAUTHENTICATED, naming both rules", async () => {
    const c = predictCases()[0]!;
    const body = Buffer.from(
      TaskRequest.encode({ pubKey: c.kp.publicKey, taskID: c.task.iD, signature: Buffer.alloc(64, 7) }).finish(),
    );
    const r = await main.call("GetPredictResult", body);
    expect(r.code).toBe(Status.UNAUTHENTICATED);
    expect(r.details).toMatch(/\(v2\).*\(v3\)/);
  });
});

// ---------- the v3 HTTP/JSON API, against §10's rules written out here ----------

/** Go json.Marshal of a string (HTML-safe), written independently of src/v3http. */
function goStr(s: string): string {
  return JSON.stringify(s)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}
const goNum = (f: number): string => (Object.is(f, -0) ? "-0" : String(f));

/** [name, value | undefined] pairs → a Go struct's JSON with omitempty. */
function obj(fields: [string, string | undefined][]): string {
  return `{${fields
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `"${k}":${v}`)
    .join(",")}}`;
}
const s = (v: string) => (v === "" ? undefined : goStr(v));
const b = (v: Uint8Array) => (v.length === 0 ? undefined : `"${Buffer.from(v).toString("base64")}"`);
const i = (v: bigint | number) => (v === 0 || v === 0n ? undefined : String(v));
const bool = (v: boolean) => (v ? "true" : undefined);
const dbl = (v: number) => (v === 0 ? undefined : goNum(v));
const map = (m: Record<string, number> | undefined) => {
  const keys = Object.keys(m ?? {}).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  return keys.length === 0 ? undefined : `{${keys.map((k) => `${goStr(k)}:${goNum(m![k]!)}`).join(",")}}`;
};

/** An FLTask as v3's server renders it: v3 JSON names, struct order, omitempty, numbers as numbers. */
function v3Json(t: FLTask): string {
  const ap = t.algoParam as (FLTask["algoParam"] & Record<string, unknown>) | undefined;
  const tp = ap?.trainParams;
  const mp = ap?.modelParams as (NonNullable<typeof ap>["modelParams"] & { path?: string }) | undefined;
  return obj([
    ["taskID", s(t.iD)],
    ["name", s(t.name)],
    ["description", s(t.description)],
    ["requester", b(t.requester)],
    [
      "dataSets",
      t.dataSets.length === 0
        ? undefined
        : `[${t.dataSets
            .map((d) =>
              obj([
                ["owner", b(d.owner)],
                ["executor", b(d.executor)],
                ["dataID", s(d.dataID)],
                ["psiLabel", s(d.PSILabel)],
                ["confirmedAt", i(d.confirmedAt)],
                ["rejectedAt", i(d.rejectedAt)],
                ["address", s(d.address)],
                ["isTagPart", bool(d.isTagPart)],
              ]),
            )
            .join(",")}]`,
    ],
    [
      "algoParam",
      ap === undefined
        ? undefined
        : obj([
            ["algo", i(ap.algo)],
            ["taskType", i(ap.taskType)],
            [
              "trainParams",
              tp === undefined
                ? undefined
                : obj([
                    ["label", s(tp.label)],
                    ["labelName", s(tp.labelName)],
                    ["regMode", i(tp.regMode)],
                    ["regParam", dbl(tp.regParam)],
                    ["alpha", dbl(tp.alpha)],
                    ["amplitude", dbl(tp.amplitude)],
                    ["accuracy", i(tp.accuracy)],
                    ["isTagPart", bool(tp.isTagPart)],
                    ["idName", s(tp.idName)],
                    ["batchSize", i((tp as unknown as Record<string, bigint>).BatchSize ?? 0n)],
                  ]),
            ],
            ["modelTaskID", s(ap.modelTaskID)],
            [
              "modelParams",
              mp === undefined
                ? undefined
                : obj([
                    ["thetas", map(mp.thetas)],
                    ["xbars", map(mp.xbars)],
                    ["sigmas", map(mp.sigmas)],
                    ["label", s(mp.label)],
                    ["isTagPart", bool(mp.isTagPart)],
                    ["idName", s(mp.idName)],
                    ["path", s(mp.path ?? "")],
                  ]),
            ],
          ]),
    ],
    ["status", s(t.status)],
    ["errMessage", s(t.errMessage)],
    ["result", s(t.result)],
    ["publishTime", i(t.publishTime)],
    ["startTime", i(t.startTime)],
    ["endTime", i(t.endTime)],
  ]);
}

async function post(
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; headers: Headers }> {
  const r = await fetch(`${http}${path}`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", ...headers },
  });
  return { status: r.status, text: await r.text(), headers: r.headers };
}

describe("v3 HTTP/JSON API", () => {
  test("POST /v1/task/list: the union's tasks rendered as v3 renders them, field by field", async () => {
    for (const e of executorKeys()) {
      // int64 as a JSON number and as a string; an unknown field; v3 field names.
      const body = `{"ePubKey":"${e.toString("base64")}","timeEnd":"${MAX_I64}","limit":100,"someNewField":{"x":1}}`;
      const r = await post("/v1/task/list", body);
      expect(r.status).toBe(200);
      const expected = refList(all, { pubKey: e, status: "", timeStart: 0n, timeEnd: MAX_I64, limit: 100n });
      expect(expected.length).toBeGreaterThan(0);
      const want = `{"code":"0","message":"","data":{"fLTasks":[${expected.map(v3Json).join(",")}]}}`;
      // Field by field first (readable diffs), then byte for byte.
      expect(JSON.parse(r.text)).toEqual(JSON.parse(want));
      expect(r.text).toBe(want);
    }
  });

  test("both keys: requester AND executor; an empty answer is data {}", async () => {
    const rq = requesters()[0]!;
    const e = executorKeys()[2]!;
    const r = await post(
      "/v1/task/list",
      JSON.stringify({ pubKey: rq.toString("base64"), ePubKey: e.toString("base64"), timeEnd: String(MAX_I64) }),
    );
    const expected = refList(all, { pubKey: rq, status: "", timeStart: 0n, timeEnd: MAX_I64, limit: 0n }).filter((t) =>
      t.dataSets.some((d) => d.executor.equals(e)),
    );
    expect(r.text).toBe(
      `{"code":"0","message":"","data":${expected.length === 0 ? "{}" : `{"fLTasks":[${expected.map(v3Json).join(",")}]}`}}`,
    );
    const none = await post(
      "/v1/task/list",
      JSON.stringify({ pubKey: rq.toString("base64"), status: "NoSuchStatus", timeEnd: 5 }),
    );
    expect(none.text).toBe('{"code":"0","message":"","data":{}}');
  });

  test("POST /v1/task/getbyid: the task as v3 renders it; not found is code 10004 with HTTP 200", async () => {
    const t = all.find((x) => x.algoParam?.modelParams !== undefined)!;
    const r = await post("/v1/task/getbyid", JSON.stringify({ taskID: t.iD, extra: true }));
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(r.headers.get("grpc-metadata-content-type")).toBe("application/grpc");
    expect(r.text).toBe(`{"code":"0","message":"","data":${v3Json(t)}}`);
    const missing = await post("/v1/task/getbyid", JSON.stringify({ taskID: "no-such-task" }));
    expect(missing.status).toBe(200);
    const m = JSON.parse(missing.text) as { code: string; message: string; data: unknown };
    expect([m.code, m.data]).toEqual(["10004", null]);
    expect(Object.keys(m)).toEqual(["code", "message", "data"]);
  });

  test("POST /v1/task/predictres/get: v3-signed → {taskID, payload base64}; v2-signed for a v3 owner → refused, not forwarded", async () => {
    const c = predictCases().find((x) => x.generation === "v3")!;
    const req = (rule: "v2" | "v3") =>
      JSON.stringify({
        pubKey: c.kp.publicKey.toString("base64"),
        taskID: c.task.iD,
        signature: signWithRule(c.kp, c.task.iD, rule).toString("base64"),
      });
    const ok = await post("/v1/task/predictres/get", req("v3"));
    const payload = sim.ledger.results.get(c.task.iD)!;
    expect(ok.text).toBe(
      `{"code":"0","message":"","data":{"taskID":${goStr(c.task.iD)},"payload":"${payload.toString("base64")}"}}`,
    );
    for (const e of sim.executors) e.resetCalls();
    const refused = JSON.parse((await post("/v1/task/predictres/get", req("v2"))).text) as {
      code: string;
      message: string;
    };
    expect(refused.code).toBe("10002");
    expect(refused.message).toContain("signed under the v2 rule");
    expect(sim.executors.map((e) => e.calls.GetPredictResult)).toEqual([0, 0, 0, 0]);
  });

  test("grpc-gateway's own errors: a body it cannot read, an unknown route, another method — all HTTP 200, code 10001", async () => {
    const bad = await post("/v1/task/list", '{"limit":"ten"}');
    expect(bad.status).toBe(200);
    expect(JSON.parse(bad.text)).toMatchObject({ code: "10001", data: null });
    expect((JSON.parse(bad.text) as { message: string }).message).toMatch(/^rpc error: code = InvalidArgument desc = /);
    const unknown = await post("/v1/task/nothing", "{}");
    expect(unknown.text).toBe(
      '{"code":"10001","message":"rpc error: code = Unimplemented desc = Not Implemented","data":null}',
    );
    const get = await fetch(`${http}/v1/task/list`);
    expect(await get.text()).toBe(
      '{"code":"10001","message":"rpc error: code = Unimplemented desc = Method Not Allowed","data":null}',
    );
    // An empty body is an empty request (matches nothing at one Executor; here the cluster view).
    const empty = await post("/v1/task/getbyid", "");
    expect(JSON.parse(empty.text)).toMatchObject({ data: null });
  });

  test("v3 HTTP calls go through the request pipeline: counted in dai_gateway_requests_total", async () => {
    const count = async (): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
      const line = text
        .split("\n")
        .find((l) => l.startsWith('dai_gateway_requests_total{method="GetTaskById",code="OK"}'));
      return line ? Number(line.split(" ").pop()) : 0;
    };
    // /metrics may be rendered at most once a second (http.metricsRenderMs): start from a fresh render.
    await new Promise((r) => setTimeout(r, 1100));
    const before = await count();
    for (const t of all.slice(0, 3)) await post("/v1/task/getbyid", JSON.stringify({ taskID: t.iD }));
    let delta = 0;
    for (let i = 0; i < 30 && delta < 3; i++) {
      await new Promise((r) => setTimeout(r, 100));
      delta = (await count()) - before;
    }
    expect(delta).toBe(3);
  });

  test("CORS: the request's Origin is echoed; a preflight gets the allowed headers and methods", async () => {
    const r = await post("/v1/task/list", "{}", { origin: "https://dtx.example" });
    expect(r.headers.get("access-control-allow-origin")).toBe("https://dtx.example");
    const pre = await fetch(`${http}/v1/task/list`, {
      method: "OPTIONS",
      headers: { origin: "https://dtx.example", "access-control-request-method": "POST" },
    });
    expect(pre.status).toBe(200);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://dtx.example");
    expect(pre.headers.get("access-control-allow-methods")).toBe("GET,HEAD,POST,PUT,DELETE");
    expect(pre.headers.get("access-control-allow-headers")).toBe("Content-Type,Accept");
  });
});

function anyFields(): ListFields {
  return { pubKey: Buffer.alloc(0), ePubKey: Buffer.alloc(0), status: "", timeStart: 0n, timeEnd: MAX_I64, limit: 0n };
}
