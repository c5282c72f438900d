/**
 * The gateway in front of simulated Executors of each release (src/sim/version.ts):
 * v2.x (numeric `100xx` codes, `timeEnd = 0` is no upper bound) and v1.x (`XDAT…`
 * codes, `timeEnd = 0` matches nothing). Whatever the Executors' release, the gateway
 * answers as one v2.x Executor holding their union would (spec §4, §5, §7).
 */
import crypto from "node:crypto";
import { status as Status } from "@grpc/grpc-js";
import { testConfig } from "../helpers/test-config";
import { startGateway, type RunningGateway } from "../../src/gateway";
import { TaskType } from "../../src/gen/common/common";
import { FLTask, GetTaskRequest, ListTaskRequest } from "../../src/gen/task/task";
import { createLogger } from "../../src/log";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import { EXECUTOR_BEHAVIOUR, EXECUTOR_VERSIONS, type ExecutorVersion } from "../../src/sim/version";
import { flTasksOf, RawClient } from "../helpers/raw-client";
import {
  predictCalls,
  predictResponseBytes,
  RawPredictClient,
  signedRequest,
  startPredictScenario,
  type PredictScenario,
} from "../helpers/predict-scenario";
import { bytesOf, refList, refMerge } from "../helpers/reference";
import { listRequestBytes } from "../helpers/wire-writer";

const MAX_I64 = 9_223_372_036_854_775_807n;

/** A gateway over `addresses`, Executors of release `version` (its wire generation configured). */
async function gatewayOver(
  addresses: string[],
  extra: Record<string, unknown> = {},
  version: ExecutorVersion = "v2",
): Promise<RunningGateway> {
  return startGateway(
    testConfig({
      listen: "127.0.0.1:0",
      httpListen: "127.0.0.1:0",
      executors: {
        seeds: addresses,
        discoveryAllow: ["127.0.0.1/32"],
        callTimeoutMs: 2000,
        generation: EXECUTOR_BEHAVIOUR[version].generation,
      },
      log: { level: "silent" },
      ...extra,
    }),
    createLogger("silent"),
  );
}

const list = (q: Partial<ListTaskRequest>): Buffer =>
  Buffer.from(ListTaskRequest.encode(ListTaskRequest.fromPartial(q)).finish());

describe.each(EXECUTOR_VERSIONS.map((v) => [v]))("Executors of release %s", (version: ExecutorVersion) => {
  let sim: SimCluster;
  let gw: RunningGateway;
  let raw: RawClient;
  beforeAll(async () => {
    sim = await startSimCluster({ executors: 3, seed: 5, trainingTasks: 12, version });
    gw = await gatewayOver(
      sim.executors.map((e) => e.address),
      {},
      version,
    );
    raw = new RawClient(`127.0.0.1:${gw.grpcPort}`);
  });
  afterAll(async () => {
    raw.close();
    await gw.stop();
    await sim.stop();
  });
  afterEach(() => {
    for (const e of sim.executors) e.failWith = undefined;
  });

  const union = (): FLTask[] => refMerge(sim.ledger.tasks);
  const requester = (): Buffer => sim.ledger.requesters[0]!.publicKey;

  test("the simulated Executor itself: timeEnd = 0 is no bound on v2, nothing on v1", async () => {
    const direct = new RawClient(sim.executors[0]!.address);
    try {
      const key = sim.keys[0]!.publicKey;
      // In the Executor's own layout (a v3 Executor reads v3's).
      const own = (timeEnd: bigint): Buffer =>
        listRequestBytes(EXECUTOR_BEHAVIOUR[version].generation, {
          pubKey: key,
          ePubKey: Buffer.alloc(0),
          status: "",
          timeStart: 0n,
          timeEnd,
          limit: 0n,
        });
      const r = await direct.call("ListTask", own(0n));
      expect(r.code).toBe(Status.OK);
      const all = await direct.call("ListTask", own(MAX_I64));
      expect(all.body!.length).toBeGreaterThan(0);
      expect(r.body!.equals(version === "v1" ? Buffer.alloc(0) : all.body!)).toBe(true);
      const nf = await direct.call("GetTaskById", GetTaskRequest.encode({ taskID: "nope" }).finish());
      expect(nf.code).toBe(Status.UNKNOWN);
      expect(nf.details).toContain(`"code":"${version === "v1" ? "XDAT0004" : "10004"}"`);
    } finally {
      direct.close();
    }
  });

  test.each([
    ["timeEnd = 0", { timeEnd: 0n }],
    ["timeEnd = -1", { timeEnd: -1n }],
    ["timeEnd = 0, limit = -1", { timeEnd: 0n, limit: -1n }],
    ["timeEnd = 0, limit = 3", { timeEnd: 0n, limit: 3n }],
    ["timeEnd = 0, status Finished", { timeEnd: 0n, status: "Finished" }],
  ])("ListTask with %s: the union, as one v2.x Executor answers", async (_name, q) => {
    const key = requester();
    const r = await raw.call("ListTask", list({ pubKey: key, ...q }));
    expect(r.code).toBe(Status.OK);
    const want = refList(union(), { pubKey: key, status: "", timeStart: 0n, limit: 0n, ...q, timeEnd: 0n });
    expect(want.length).toBeGreaterThan(0);
    expect(r.body!.toString("hex")).toBe(flTasksOf(want.map(bytesOf)).toString("hex"));
    expect(r.trailers["dai-executors-failed"]).toBeUndefined();
  });

  test("GetTaskById of an unknown ID: NOT_FOUND from the not-found code", async () => {
    const r = await raw.call("GetTaskById", GetTaskRequest.encode({ taskID: crypto.randomUUID() }).finish());
    expect(r.code).toBe(Status.NOT_FOUND);
    expect(r.trailers["dai-executors-answered"]).toBe("3");
  });

  test("an Executor failing with its internal code is a failed Executor, not a not-found", async () => {
    sim.executors[1]!.failWith = "internal";
    const id = sim.ledger.tasks[0]!.iD;
    const r = await raw.call("GetTaskById", GetTaskRequest.encode({ taskID: id }).finish(), {
      "dai-cache-control": "no-cache",
    });
    expect(r.trailers["dai-executors-failed"]).toBe(sim.executors[1]!.address);
  });
});

describe.each(EXECUTOR_VERSIONS.map((v) => [v]))("GetPredictResult through %s Executors", (version) => {
  let sc: PredictScenario;
  let gw: RunningGateway;
  let client: RawPredictClient;
  beforeAll(async () => {
    sc = await startPredictScenario(version);
    gw = await gatewayOver(
      sc.executors.slice(0, 4).map((e) => e.address),
      { cache: { taskTtlMs: 1, terminalTtlMs: 1 } },
      version,
    );
    client = new RawPredictClient(`127.0.0.1:${gw.grpcPort}`);
  });
  afterAll(async () => {
    client.close();
    await gw.stop();
    await sc.stop();
  });
  afterEach(() => {
    for (const e of sc.executors) e.failWith = undefined;
  });

  test("a non-ASCII task ID, signed over its UTF-8 bytes, is relayed and verified by the Executor", async () => {
    const id = `预测-é-${crypto.randomUUID()}`;
    sc.putEverywhere(
      FLTask.fromPartial({
        iD: id,
        requester: sc.me.publicKey,
        dataSets: [],
        algoParam: { taskType: TaskType.PREDICT, modelTaskID: sc.ids.model },
        status: "Finished",
        publishTime: 1_764_316_900_000_000_000n,
      }),
    );
    const payload = Buffer.from('[["id","prediction"],["1","0.5"]]');
    sc.executors[1]!.setResult(id, payload);
    const before = predictCalls(sc.executors)[1]!;
    const body = await client.call(signedRequest(sc.me, id, EXECUTOR_BEHAVIOUR[version].generation));
    expect(body.equals(predictResponseBytes(id, payload))).toBe(true);
    expect(predictCalls(sc.executors)[1]).toBe(before + 1);
  });

  test("the label holder's bad-signature code is UNAUTHENTICATED, not UNAVAILABLE", async () => {
    sc.executors[1]!.failWith = "badSignature";
    const r = await client.status(signedRequest(sc.me, sc.ids.mine, EXECUTOR_BEHAVIOUR[version].generation));
    expect(Status[r.code]).toBe("UNAUTHENTICATED");
    expect(r.details).not.toMatch(/unreachable/);
  });

  test("a bad-parameter code is INVALID_ARGUMENT; an internal one INTERNAL", async () => {
    sc.executors[1]!.failWith = "param";
    expect(
      Status[(await client.status(signedRequest(sc.me, sc.ids.mine, EXECUTOR_BEHAVIOUR[version].generation))).code],
    ).toBe("INVALID_ARGUMENT");
    sc.executors[1]!.failWith = "internal";
    expect(
      Status[(await client.status(signedRequest(sc.me, sc.ids.mine, EXECUTOR_BEHAVIOUR[version].generation))).code],
    ).toBe("INTERNAL");
  });

  test("not found on every model Executor: NOT_FOUND", async () => {
    for (const e of sc.executors) e.failWith = "notFound";
    // The task loads come from the cache's short-lived entries or fail as not found themselves.
    const r = await client.status(signedRequest(sc.me, sc.ids.mine, EXECUTOR_BEHAVIOUR[version].generation));
    expect(Status[r.code]).toBe("NOT_FOUND");
  });
});
