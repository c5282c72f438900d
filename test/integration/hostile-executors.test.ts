/**
 * Hostile Executors: garbage, oversize replies, implausible tasks, off-filter tasks and
 * floods of addresses. None may crash the gateway, reach the merged answer, or grow
 * the Executor set past the allow-list and the cap.
 */
import * as grpc from "@grpc/grpc-js";
import { DataForTask, FLTask, FLTasks, GetTaskRequest } from "../../src/gen/task/task";
import type { RunningGateway } from "../../src/gateway";
import { deterministicKeyPair } from "../../src/sim/ledger";
import { AllowList } from "../../src/upstream/allowlist";
import { gatewayFor, rawCall, rawClient, rawExecutorSet, upstreamError } from "../helpers/resilience";
import { listAllBody } from "../helpers/requests";

const requester = deterministicKeyPair("hostile-requester").publicKey;
const executorKey = deterministicKeyPair("hostile-executor").publicKey;
const T0 = 1_700_000_000_000_000_000n;
const ALLOW = ["127.0.0.1:*"];
const MAX_EXECUTORS = 12;

function task(id: string, over: Partial<FLTask> = {}): FLTask {
  return FLTask.fromPartial({
    iD: id,
    name: id,
    requester,
    status: "Finished",
    publishTime: T0 + BigInt(id.length) * 1000n,
    dataSets: [{ dataID: "d", executor: executorKey, address: "", isTagPart: true }],
    ...over,
  });
}

const list = (tasks: FLTask[]): Buffer => Buffer.from(FLTasks.encode({ fLTasks: tasks }).finish());

// Addresses a flood names: allowed ones (closed ports on loopback) and disallowed ones.
const floodAllowed = Array.from({ length: 300 }, (_, i) => `127.0.0.1:${1 + i}`);
const floodDenied = Array.from({ length: 300 }, (_, i) => `10.9.${i >> 8}.${i & 255}:8184`);
const ds = (address: string, executor = executorKey): DataForTask =>
  DataForTask.fromPartial({ dataID: "d", executor, address });

const goodA = [task("good-a1"), task("good-a2", { status: "Processing" })];
const goodFlood = Array.from({ length: 20 }, (_, i) =>
  task(`flood-${i}`, {
    dataSets: [...floodAllowed.slice(i * 15, i * 15 + 15), ...floodDenied.slice(i * 15, i * 15 + 15)].map((a) => ds(a)),
  }),
);
const implausible = [
  task(""),
  task("short-requester", { requester: Buffer.alloc(33, 7) }),
  task("bad-exec-key", { dataSets: [ds("127.0.0.1:4", Buffer.alloc(3))] }),
  task("future", { publishTime: 2n ** 63n - 1n }),
  task("negative", { publishTime: -5n }),
  task("thousands", { dataSets: floodAllowed.concat(floodDenied).map((a) => ds(a)) }),
  task("x".repeat(500)),
];
const offFilter = [task("someone-else", { requester: Buffer.alloc(64, 9), dataSets: [] })];

let gw: RunningGateway;
let client: grpc.Client;
const executors = rawExecutorSet();
const addr = executors.addr;

beforeAll(async () => {
  const mk = executors.start;
  await mk("mixed", (m) => (m === "ListTask" ? list([...goodA, ...implausible, ...offFilter]) : Buffer.alloc(0)));
  await mk("flood", (m) => (m === "ListTask" ? list(goodFlood) : Buffer.alloc(0)));
  await mk("oversize", (m) =>
    m === "ListTask"
      ? list(Array.from({ length: 200 }, (_, i) => task(`big-${i}`, { description: "x".repeat(2000) })))
      : Buffer.alloc(0),
  );
  await mk("garbage", () => Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]));
  await mk("liar", (m, req) => {
    if (m !== "GetTaskById") return list([]);
    const id = GetTaskRequest.decode(req).taskID;
    return id === "good-a1" ? Buffer.from(FLTask.encode(task("not-what-was-asked")).finish()) : upstreamError(2, "{}");
  });
  gw = await gatewayFor(undefined, {
    seeds: Object.values(addr),
    executors: {
      discoveryAllow: ALLOW,
      maxExecutors: MAX_EXECUTORS,
      maxResponseBytes: 256 * 1024,
      callTimeoutMs: 2000,
      circuitFailures: 1000,
    },
  });
  client = rawClient(gw.grpcPort);
});

afterAll(async () => {
  client?.close();
  await gw?.stop();
  await executors.stopAll();
});

const listBody = (): Buffer => listAllBody(requester);

test("only plausible, matching tasks reach the answer; bad Executors are named", async () => {
  const r = await rawCall(client, "ListTask", listBody(), { deadlineMs: 8000 });
  expect(r.err).toBeUndefined();
  const ids = new Set(FLTasks.decode(r.body!).fLTasks.map((t) => t.iD));
  const expected = new Set([...goodA, ...goodFlood].map((t) => t.iD));
  expect(ids).toEqual(expected);
  const failed = (r.trailers["dai-executors-failed"] ?? "").split(",");
  expect(failed).toEqual(expect.arrayContaining([addr.oversize, addr.garbage]));
  expect(failed).not.toContain(addr.mixed);
  expect(failed).not.toContain(addr.flood);
});

test("the Executor set never grows past the allow-list and the cap", async () => {
  for (let i = 0; i < 3; i++) await rawCall(client, "ListTask", listBody(), { deadlineMs: 8000 });
  const allow = new AllowList(ALLOW);
  const seeds = new Set(Object.values(addr));
  expect(gw.registry.size).toBeLessThanOrEqual(MAX_EXECUTORS);
  expect(gw.registry.size).toBeGreaterThan(seeds.size); // discovery did run
  for (const a of gw.registry.addresses()) expect(seeds.has(a) || allow.allows(a)).toBe(true);
  // Circuits exist only for members of the set.
  for (const s of gw.health.snapshot()) expect(gw.registry.get(s.address)).toBeDefined();
});

test("oversize and garbage replies are clean per-Executor failures with a reason", async () => {
  const r = await rawCall(client, "ListTask", listBody(), {
    deadlineMs: 8000,
    metadata: { "dai-consistency": "strict" },
  });
  expect(r.err?.code).toBe(grpc.status.UNAVAILABLE);
  expect(r.err?.details).toMatch(new RegExp(`${addr.oversize} \\([^)]*exceeds[^)]*262144`));
  expect(r.err?.details).toMatch(new RegExp(`${addr.garbage} \\(malformed reply`));
});

test("a copy of a different task than asked for is dropped", async () => {
  const r = await rawCall(client, "GetTaskById", Buffer.from(GetTaskRequest.encode({ taskID: "good-a1" }).finish()), {
    deadlineMs: 8000,
  });
  // No Executor holds good-a1 by id (the raw ones answer empty bytes = a task with no id), so NOT_FOUND.
  expect(r.err?.code).toBe(grpc.status.NOT_FOUND);
});
