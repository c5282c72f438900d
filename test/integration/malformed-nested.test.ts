/**
 * A task whose top-level fields are valid but whose nested messages (algoParam and what it
 * holds) are malformed must never reach a client: the gateway reads only what it merges on,
 * so before the fix such a task was relayed byte for byte and the client's own full decode
 * of the whole answer failed. It is dropped (counted, and its Executor named in the log), and
 * another Executor's well-formed copy of the same task takes its place.
 */
import * as grpc from "@grpc/grpc-js";
import { FLTask, FLTasks, GetTaskRequest } from "../../src/gen/task/task";
import type { RunningGateway } from "../../src/gateway";
import { deterministicKeyPair } from "../../src/sim/ledger";
import { gatewayFor, rawCall, rawClient, rawExecutorSet } from "../helpers/resilience";
import { listAllBody } from "../helpers/requests";
import { writeEntries } from "../helpers/wire-writer";

const requester = deterministicKeyPair("nested-requester").publicKey;
const executorKey = deterministicKeyPair("nested-executor").publicKey;
const T0 = 1_700_000_000_000_000_000n;

function task(id: string, i: number, status = "Finished"): Buffer {
  const t = FLTask.fromPartial({
    iD: id,
    name: id,
    requester,
    status,
    publishTime: T0 + BigInt(i) * 1000n,
    dataSets: [{ dataID: "d", executor: executorKey, address: "", isTagPart: true }],
    algoParam: { taskType: 0, trainParams: { label: "y", BatchSize: 4n } },
  });
  return Buffer.from(FLTask.encode(t).finish());
}

/** A valid task with one more `algoParam` occurrence appended (decoders merge it into the first). */
function withAlgoParam(raw: Buffer, algoParam: Buffer): Buffer {
  return Buffer.concat([raw, writeEntries([{ field: 6, kind: "len", value: algoParam }])]);
}

// algoParam.trainParams (field 3) says 50 bytes, holds 2.
const truncatedTrainParams = Buffer.from([0x1a, 0x32, 0x0a, 0x01]);
// algoParam.modelParams.thetas[0] (a map entry) holds a tag of wire type 7.
const badWireTypeInMap = writeEntries([
  { field: 5, kind: "len", value: writeEntries([{ field: 1, kind: "len", value: Buffer.from([0x0f, 0x00]) }]) },
]);

const good = [task("ok-1", 1), task("ok-2", 2)];
const badOnly = [
  withAlgoParam(task("bad-1", 5), truncatedTrainParams),
  withAlgoParam(task("bad-2", 4), badWireTypeInMap),
];
// The same task on both Executors: the malformed copy is the more advanced one (it would win the merge).
const sharedGood = task("shared", 3, "Processing");
const sharedBad = withAlgoParam(task("shared", 3, "Finished"), truncatedTrainParams);
// GetTaskById asks for a task no ListTask answer held (nothing of it is cached).
const getGood = task("get-shared", 6, "Processing");
const getBad = withAlgoParam(task("get-shared", 6, "Finished"), badWireTypeInMap);

const frame = (tasks: Buffer[]): Buffer =>
  Buffer.concat(tasks.map((t) => writeEntries([{ field: 1, kind: "len", value: t }])));

let gw: RunningGateway;
let client: grpc.Client;
const executors = rawExecutorSet();
const addr = executors.addr;

beforeAll(async () => {
  const mk = executors.start;
  await mk("hostile", (m) => (m === "ListTask" ? frame([...badOnly, sharedBad]) : getBad));
  await mk("honest", (m) => (m === "ListTask" ? frame([...good, sharedGood]) : getGood));
  gw = await gatewayFor(undefined, {
    seeds: Object.values(addr),
    executors: { callTimeoutMs: 2000, circuitFailures: 1000 },
  });
  client = rawClient(gw.grpcPort);
});

afterAll(async () => {
  client?.close();
  await gw?.stop();
  await executors.stopAll();
});

test("the malformed copies are stock-decodable only once dropped (the test's own premise)", () => {
  for (const b of [...badOnly, sharedBad, getBad]) expect(() => FLTask.decode(b)).toThrow();
  for (const b of [...good, sharedGood, getGood]) expect(() => FLTask.decode(b)).not.toThrow();
});

test("ListTask: malformed nested messages are dropped, the honest copy takes their place", async () => {
  const r = await rawCall(client, "ListTask", listAllBody(requester), { deadlineMs: 8000 });
  expect(r.err).toBeUndefined();
  // A stock client's full decode of the whole answer.
  const tasks = FLTasks.decode(r.body!).fLTasks;
  expect(tasks.map((t) => t.iD)).toEqual(["shared", "ok-2", "ok-1"]);
  // Lossless: the relayed bytes are the honest Executor's, untouched.
  expect(Buffer.from(FLTask.encode(tasks[0]!).finish())).toEqual(sharedGood);
  expect(r.body!.includes(sharedGood)).toBe(true);
  // A dropped task, as any invalid one: both Executors answered (the answer may be cached).
  expect(r.trailers["dai-executors-failed"]).toBeUndefined();
  expect(r.trailers["dai-executors-answered"]).toBe("2");
});

test("ListTask strict: the answer is complete (the drops are counted, not failures), and decodes whole", async () => {
  const r = await rawCall(client, "ListTask", listAllBody(requester), {
    deadlineMs: 8000,
    metadata: { "dai-consistency": "strict", "dai-cache-control": "no-cache" },
  });
  expect(r.err).toBeUndefined();
  expect(FLTasks.decode(r.body!).fLTasks.map((t) => t.iD)).toEqual(["shared", "ok-2", "ok-1"]);
  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  expect(metrics).toMatch(/dai_gateway_dropped_tasks_total\{method="ListTask"\} [1-9]/);
});

test("GetTaskById: a malformed copy is a malformed reply; the well-formed copy is the answer", async () => {
  const req = Buffer.from(GetTaskRequest.encode({ taskID: "get-shared" }).finish());
  const r = await rawCall(client, "GetTaskById", req, { deadlineMs: 8000 });
  expect(r.err).toBeUndefined();
  expect(() => FLTask.decode(r.body!)).not.toThrow();
  expect(r.body).toEqual(getGood);
  expect(r.trailers["dai-executors-failed"] ?? "").toContain(addr.hostile);
});
