/**
 * Independence: Executors and a client that share no code with this project.
 * The Executors are built here from proto/task/task.proto with @grpc/proto-loader
 * (protobufjs) and grpc-js, and serve the fixture bytes (made by Python protobuf)
 * plus copies edited at the byte level with the small codec below. The client is a
 * proto-loader client. Expected answers are computed here from the spec.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import path from "node:path";
import { testConfig } from "../helpers/test-config";
import { startGateway, type RunningGateway } from "../../src/gateway";
import { createLogger } from "../../src/log";
import { signature, wire } from "../helpers/fixtures";

const PROTO_DIR = path.join(__dirname, "..", "..", "proto");
const MAX_I64 = "9223372036854775807";

const pkg = protoLoader.loadSync("task/task.proto", {
  includeDirs: [PROTO_DIR],
  keepCase: true,
  longs: String,
  bytes: Buffer,
  defaults: true,
});
const svc = pkg["task.Task"] as protoLoader.ServiceDefinition;
const decodeTask = (b: Buffer) => svc.GetTaskById!.responseDeserialize(b) as PlainTask;

interface PlainTask {
  iD: string;
  status: string;
  requester: Buffer;
  publishTime: string;
  startTime: string;
  endTime: string;
  dataSets: { executor: Buffer; confirmedAt: string; rejectedAt: string }[];
}

// ---- a minimal protobuf codec, only to edit copies of the fixtures ----

function readVarint(b: Buffer, pos: number): [bigint, number] {
  let v = 0n;
  for (let shift = 0n; ; shift += 7n) {
    const byte = b[pos++]!;
    v |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return [v, pos];
  }
}

function varint(v: bigint): Buffer {
  const out: number[] = [];
  do {
    out.push(Number(v & 0x7fn) | (v > 0x7fn ? 0x80 : 0));
    v >>= 7n;
  } while (v > 0n);
  return Buffer.from(out);
}

interface Field {
  no: number;
  whole: Buffer;
  payload: Buffer;
}

function fields(b: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < b.length) {
    const start = pos;
    const [tag, p1] = readVarint(b, pos);
    const wt = Number(tag & 7n);
    pos = p1;
    let payload: Buffer;
    if (wt === 0) {
      const [, p2] = readVarint(b, pos);
      payload = b.subarray(pos, p2);
      pos = p2;
    } else if (wt === 2) {
      const [len, p2] = readVarint(b, pos);
      payload = b.subarray(p2, p2 + Number(len));
      pos = p2 + Number(len);
    } else if (wt === 1) {
      payload = b.subarray(pos, pos + 8);
      pos += 8;
    } else if (wt === 5) {
      payload = b.subarray(pos, pos + 4);
      pos += 4;
    } else throw new Error(`wire type ${wt} not used by the fixtures`);
    out.push({ no: Number(tag >> 3n), whole: b.subarray(start, pos), payload });
  }
  return out;
}

const lenField = (no: number, payload: Buffer): Buffer =>
  Buffer.concat([varint(BigInt((no << 3) | 2)), varint(BigInt(payload.length)), payload]);

/** A copy with some top-level fields replaced (Buffer) or removed (null); others kept byte for byte. */
function edit(b: Buffer, change: Record<number, (f: Field, index: number) => Buffer | null>): Buffer {
  const seen: Record<number, number> = {};
  return Buffer.concat(
    fields(b).flatMap((f) => {
      const i = (seen[f.no] = (seen[f.no] ?? -1) + 1);
      const fn = change[f.no];
      const r = fn ? fn(f, i) : f.whole;
      return r === null ? [] : [r];
    }),
  );
}

// ---- the tasks: fixtures, lagging copies and same-time ties ----

const TRAIN = wire("fltask_train"); // Finished
const PREDICT = wire("fltask_predict"); // Rejected
const NEWER = wire("fltask_newer_executor"); // Confirming, unknown fields in algoParam and FLTask
/** The training task one step back: Processing, no end time, no result. */
const TRAIN_LAG = edit(TRAIN, {
  7: () => lenField(7, Buffer.from("Processing")),
  9: () => null,
  12: () => null,
});
/** The newer task before its first data set confirmed (fewer decisions). */
const NEWER_LAG = edit(NEWER, {
  5: (f, i) => (i === 0 ? lenField(5, edit(f.payload, { 5: () => null })) : f.whole),
});
/** Other tasks published at the very same nanosecond: order falls to the ID, byte order. */
const withId = (id: string) => edit(NEWER, { 1: () => lenField(1, Buffer.from(id)) });
const TIE_LOW = withId("c0ffee00-0000-4222-8333-444455556666");
const TIE_HIGH = withId("c0ffee00-1111-4222-8333-44445555666\u00e9");

const HOLDINGS: Buffer[][] = [
  [TRAIN, NEWER_LAG, TIE_LOW],
  [TRAIN_LAG, PREDICT, NEWER],
  [TRAIN_LAG, TIE_HIGH, PREDICT, NEWER_LAG],
];

/** This one ignores filters, order and limit (see sloppyList); it alone holds TIE_HIGH. */
const SLOPPY = 2;

// ---- the reference (spec §3, §4; issue 2 §6) on protobufjs-decoded facts ----

const RANK: Record<string, number> = {
  Confirming: 1,
  Ready: 2,
  ToProcess: 3,
  Processing: 4,
  Finished: 5,
  Failed: 5,
  Rejected: 5,
};

function advancement(b: Buffer): bigint[] {
  const t = decodeTask(b);
  const decided = t.dataSets.filter((d) => d.confirmedAt !== "0" || d.rejectedAt !== "0").length;
  return [BigInt(RANK[t.status] ?? 0), BigInt(t.endTime), BigInt(t.startTime), BigInt(decided)];
}

function truth(): Buffer[] {
  const best = new Map<string, Buffer>();
  for (const b of HOLDINGS.flat()) {
    const id = decodeTask(b).iD;
    const prev = best.get(id);
    if (!prev) best.set(id, b);
    else {
      const [x, y] = [advancement(b), advancement(prev)];
      const i = x.findIndex((v, k) => v !== y[k]);
      if (i >= 0 && x[i]! > y[i]!) best.set(id, b);
    }
  }
  return [...best.values()];
}

interface Req {
  pubKey: Buffer;
  status: string;
  timeStart: string;
  timeEnd: string;
  limit: string;
}

function executorList(tasks: Buffer[], q: Req): Buffer[] {
  const hits = tasks.filter((b) => {
    const t = decodeTask(b);
    const p = BigInt(t.publishTime);
    return (
      q.pubKey.length > 0 &&
      (t.requester.equals(q.pubKey) || t.dataSets.some((d) => d.executor.equals(q.pubKey))) &&
      (q.status === "" || t.status === q.status) &&
      BigInt(q.timeStart) <= p &&
      p <= BigInt(q.timeEnd)
    );
  });
  hits.sort((a, b) => {
    const [x, y] = [decodeTask(a), decodeTask(b)];
    const [px, py] = [BigInt(x.publishTime), BigInt(y.publishTime)];
    if (px !== py) return px > py ? -1 : 1;
    return Buffer.compare(Buffer.from(x.iD), Buffer.from(y.iD));
  });
  const limit = Number(q.limit);
  return limit > 0 ? hits.slice(0, limit) : hits;
}

const flTasks = (tasks: Buffer[]): Buffer => Buffer.concat(tasks.map((t) => lenField(1, t)));

// ---- the independent Executors ----

const identity = (b: Buffer): Buffer => b;

function notFound(id: string): Partial<grpc.StatusObject> {
  return { code: grpc.status.UNKNOWN, details: JSON.stringify({ code: "XDAT0004", message: `task ${id} not found` }) };
}

/**
 * `sloppy`: an out-of-spec Executor that filters by key only and answers oldest first,
 * ignoring status, window, order and limit. The gateway re-checks every reply.
 */
function sloppyList(tasks: Buffer[], q: Req): Buffer[] {
  const mine = executorList(tasks, { ...q, status: "", timeStart: "0", timeEnd: MAX_I64, limit: "0" });
  const time = (b: Buffer) => BigInt(decodeTask(b).publishTime);
  return mine.sort((a, b) => (time(a) === time(b) ? 0 : time(a) < time(b) ? -1 : 1)); // stable: ties keep ID order
}

async function startExecutor(
  tasks: Buffer[],
  sloppy = false,
): Promise<{ address: string; server: grpc.Server; calls: number }> {
  const server = new grpc.Server();
  const state = { address: "", server, calls: 0 };
  const raw = (m: protoLoader.MethodDefinition<object, object>) => ({ ...m, responseSerialize: identity });
  server.addService(
    { ListTask: raw(svc.ListTask!), GetTaskById: raw(svc.GetTaskById!) } as unknown as grpc.ServiceDefinition,
    {
      ListTask: (call: grpc.ServerUnaryCall<Req, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        state.calls++;
        cb(null, flTasks((sloppy ? sloppyList : executorList)(tasks, call.request)));
      },
      GetTaskById: (call: grpc.ServerUnaryCall<{ taskID: string }, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        state.calls++;
        const hit = tasks.find((b) => decodeTask(b).iD === call.request.taskID);
        if (hit) cb(null, hit);
        else cb(notFound(call.request.taskID));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  state.address = `127.0.0.1:${port}`;
  return state;
}

// ---- the independent client ----

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;
interface TaskClient extends grpc.Client {
  ListTask(req: Partial<Req>, cb: Callback<{ fLTasks: PlainTask[] }>): void;
  GetTaskById(req: { taskID: string }, cb: Callback<PlainTask>): void;
}

const TaskClientCtor = (grpc.loadPackageDefinition(pkg) as unknown as { task: { Task: grpc.ServiceClientConstructor } })
  .task.Task;
/** The same service, but handing back the reply bytes undecoded. */
const RawTaskClientCtor = grpc.makeGenericClientConstructor(
  {
    ListTask: { ...svc.ListTask!, responseDeserialize: identity },
    GetTaskById: { ...svc.GetTaskById!, responseDeserialize: identity },
  } as unknown as grpc.ServiceDefinition,
  "Task",
);

function unary<T>(fn: (cb: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

describe("independent Executors and an independent client", () => {
  const executors: { address: string; server: grpc.Server; calls: number }[] = [];
  let gw: RunningGateway;
  let client: TaskClient;
  let rawClient: grpc.Client & Record<string, (req: object, cb: Callback<Buffer>) => void>;
  const requester = Buffer.from(signature.pubKey_hex, "hex");

  beforeAll(async () => {
    for (const [i, h] of HOLDINGS.entries()) executors.push(await startExecutor(h, i === SLOPPY));
    const config = testConfig({
      listen: "127.0.0.1:0",
      httpListen: "127.0.0.1:0",
      // The fixtures name 10.0.0.x Executors; they are outside the allow-list and never contacted.
      executors: { seeds: executors.map((e) => e.address), discoveryAllow: ["127.0.0.1/32"] },
      log: { level: "silent" },
    });
    gw = await startGateway(config, createLogger("silent"));
    const target = `127.0.0.1:${gw.grpcPort}`;
    client = new TaskClientCtor(target, grpc.credentials.createInsecure()) as unknown as TaskClient;
    rawClient = new RawTaskClientCtor(target, grpc.credentials.createInsecure()) as typeof rawClient;
  });

  afterAll(async () => {
    client.close();
    rawClient.close();
    await gw.stop();
    for (const e of executors) e.server.forceShutdown();
  });

  test("the scenario is what it claims: lagging copies and same-time ties exist", () => {
    const all = truth();
    expect(all).toHaveLength(5);
    expect(all.some((b) => b.equals(TRAIN)) && all.some((b) => b.equals(NEWER))).toBe(true);
    expect(decodeTask(TRAIN_LAG).status).toBe("Processing");
    expect(advancement(NEWER_LAG)[3]).toBeLessThan(advancement(NEWER)[3]!);
    expect(decodeTask(TIE_LOW).publishTime).toBe(decodeTask(NEWER).publishTime);
  });

  const requests: [string, Partial<Req>][] = [
    ["all of the requester's tasks", {}],
    ["limit 2 (a tie at the top)", { limit: "2" }],
    ["limit 3 (the third one only the sloppy Executor holds)", { limit: "3" }],
    ["limit 4", { limit: "4" }],
    ["status Finished (terminal)", { status: "Finished" }],
    ["status Processing (only a lagging copy says so)", { status: "Processing" }],
    ["status Confirming", { status: "Confirming", limit: "2" }],
    ["window ending exactly at the training task", { timeEnd: "1764316800123456789" }],
    ["window starting exactly at the prediction task", { timeStart: "1764320000000000000", limit: "3" }],
    ["an Executor's key", { pubKey: Buffer.from(signature.other_key_hex, "hex") }],
  ];

  test.each(requests)("ListTask, %s: bytes and decoded tasks equal the merged truth", async (_name, over) => {
    const q: Req = { pubKey: requester, status: "", timeStart: "0", timeEnd: MAX_I64, limit: "0", ...over };
    const want = executorList(truth(), q);
    const bytes = await unary<Buffer>((cb) => rawClient.ListTask!(q, cb));
    expect(bytes.toString("hex")).toBe(flTasks(want).toString("hex"));
    const decoded = await unary<{ fLTasks: PlainTask[] }>((cb) => client.ListTask(q, cb));
    expect(decoded.fLTasks).toEqual(want.map(decodeTask));
  });

  test.each([
    ["the training task (lagging elsewhere)", TRAIN],
    ["the newer Executor's task (unknown fields, lagging elsewhere)", NEWER],
    ["a tie", TIE_HIGH],
  ])("GetTaskById, %s, byte for byte", async (_name, want) => {
    const id = decodeTask(want).iD;
    const bytes = await unary<Buffer>((cb) => rawClient.GetTaskById!({ taskID: id }, cb));
    expect(bytes.equals(want)).toBe(true);
    const decoded = await unary<PlainTask>((cb) => client.GetTaskById({ taskID: id }, cb));
    expect(decoded).toEqual(decodeTask(want));
  });

  test("GetTaskById of an unknown task: NOT_FOUND to the client", async () => {
    await expect(unary((cb) => client.GetTaskById({ taskID: "no-such-task" }, cb))).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
  });
});
