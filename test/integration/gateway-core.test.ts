/**
 * The real gateway in front of simulated Executors, all on loopback. Expected answers
 * come from the simulator's ledger through the reference in test/helpers/reference.ts.
 */
import { status as Status } from "@grpc/grpc-js";
import fc from "fast-check";
import { testConfig } from "../helpers/test-config";
import { startGateway, type RunningGateway } from "../../src/gateway";
import { FLTask, GetTaskRequest, ListTaskRequest, PredictResponse, TaskRequest } from "../../src/gen/task/task";
import { signPredictRequest } from "../../src/crypto/p256";
import { createLogger } from "../../src/log";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import { SimExecutor } from "../../src/sim/executor";
import { lagged } from "../../src/sim/ledger";
import { fakeKey } from "../helpers/ledger-gen";
import { flTasksOf, RawClient } from "../helpers/raw-client";
import { bytesOf, involves, refList, refMerge, type RefQuery } from "../helpers/reference";
import { wire } from "../helpers/fixtures";

const MAX_I64 = 9_223_372_036_854_775_807n;
const LAGGING = 4;

interface Gw {
  gw: RunningGateway;
  raw: RawClient;
  close(): Promise<void>;
}

type Seed = string | { address: string; pubKey?: string };

async function gateway(seeds: Seed[], executors: Record<string, unknown> = {}): Promise<Gw> {
  const config = testConfig({
    listen: "127.0.0.1:0",
    httpListen: "127.0.0.1:0",
    executors: { seeds, discoveryAllow: ["127.0.0.1/32"], callTimeoutMs: 2000, ...executors },
    log: { level: "silent" },
  });
  // GW_LOG=debug shows what the gateway did when a test fails.
  const gw = await startGateway(config, createLogger(process.env.GW_LOG ?? "silent"));
  const raw = new RawClient(`127.0.0.1:${gw.grpcPort}`);
  return {
    gw,
    raw,
    async close() {
      raw.close();
      await gw.stop();
    },
  };
}

const listBytes = (q: Partial<RefQuery>): Uint8Array =>
  ListTaskRequest.encode(ListTaskRequest.fromPartial({ timeEnd: MAX_I64, ...q })).finish();
const getBytes = (taskID: string): Uint8Array => GetTaskRequest.encode({ taskID }).finish();

let sim: SimCluster;
/** What Executor i holds, as the simulator put it there (lagging copies included). */
let held: FLTask[][];
const seedOf = (i: number): Seed => ({
  address: sim.executors[i]!.address,
  pubKey: sim.keys[i]!.publicKey.toString("hex"),
});
const allSeeds = (): Seed[] => sim.executors.map((_, i) => seedOf(i));

beforeAll(async () => {
  sim = await startSimCluster({ executors: 5, seed: 11, lagging: [LAGGING], trainingTasks: 20 });
  const byId = new Map(sim.ledger.tasks.map((t) => [t.iD, t]));
  held = sim.executors.map((_, i) =>
    [...sim.ledger.holdings.get(i)!].map((id) => {
      const t = byId.get(id)!;
      return i === LAGGING ? (lagged(t) ?? t) : t;
    }),
  );
});
afterAll(async () => {
  await sim.stop();
});
afterEach(async () => {
  for (const e of sim.executors) {
    e.mode = "ok";
    e.latencyMs = 0;
    if (!e.running) await e.start();
  }
});

/** The union of the given Executors' ledgers: the most advanced copy of each task. */
const unionOf = (executors: number[]): FLTask[] => refMerge(executors.flatMap((i) => held[i]!));
const ALL = [0, 1, 2, 3, 4];

describe("discovery", () => {
  test("one seed with its key reaches every simulated Executor within one cluster-wide call", async () => {
    const g = await gateway([seedOf(0)]);
    try {
      const r = await g.raw.call("ListTask", listBytes({ pubKey: Buffer.alloc(0) }));
      expect(r.code).toBe(Status.OK);
      expect(r.trailers["dai-executors-asked"]).toBe("5");
      expect(r.trailers["dai-executors-answered"]).toBe("5");
      expect(g.gw.registry.addresses().sort()).toEqual(sim.executors.map((e) => e.address).sort());
      // Every key was learned from the tasks' data sets.
      for (const [i, e] of sim.executors.entries()) {
        expect(g.gw.registry.get(e.address)!.pubKey).toEqual(sim.keys[i]!.publicKey);
      }
    } finally {
      await g.close();
    }
  });

  describe("a strict chain: Executor i's only task names Executor i+1", () => {
    const chain: SimExecutor[] = [];
    const requester = fakeKey(77);
    const tasks: FLTask[] = [];
    beforeAll(async () => {
      for (let i = 0; i < 5; i++) {
        const e = new SimExecutor("127.0.0.1", `chain-${i}`);
        await e.start();
        chain.push(e);
      }
      for (let i = 0; i < 5; i++) {
        const names = i < 4 ? [i, i + 1] : [i];
        const t = FLTask.fromPartial({
          iD: `chain-task-${i}`,
          requester,
          status: "Ready",
          publishTime: 1_764_316_800_000_000_000n + BigInt(i),
          dataSets: names.map((j) => ({ executor: fakeKey(10 + j), address: chain[j]!.address })),
        });
        tasks.push(t);
        chain[i]!.putRaw(bytesOf(t));
      }
    });
    afterAll(async () => {
      await Promise.all(chain.map((e) => e.stop()));
    });

    test.each([
      ["keyed", requester],
      ["cluster-wide", Buffer.alloc(0)],
    ])("%s: with discoveryRounds 4 one call asks all five and answers with all five tasks", async (_n, pubKey) => {
      const g = await gateway([{ address: chain[0]!.address, pubKey: fakeKey(10).toString("hex") }], {
        discoveryRounds: 4,
      });
      try {
        const r = await g.raw.call("ListTask", listBytes({ pubKey }));
        expect(r.trailers["dai-executors-asked"]).toBe("5");
        expect(
          r.body!.equals(
            flTasksOf(
              refList(
                tasks,
                { pubKey, status: "", timeStart: 0n, timeEnd: MAX_I64, limit: 0n },
                pubKey.length === 0,
              ).map(bytesOf),
            ),
          ),
        ).toBe(true);
        for (const e of chain) expect(e.calls.ListTask).toBeGreaterThan(0);
      } finally {
        for (const e of chain) e.resetCalls();
        await g.close();
      }
    });

    test("the bound holds: with discoveryRounds 2 one call asks three; the next call continues", async () => {
      const g = await gateway([chain[0]!.address], { discoveryRounds: 2 });
      try {
        const q = listBytes({ pubKey: requester });
        const first = await g.raw.call("ListTask", q);
        expect(first.trailers["dai-executors-asked"]).toBe("3");
        expect([chain[3]!.calls.ListTask, chain[4]!.calls.ListTask]).toEqual([0, 0]);
        const second = await g.raw.call("ListTask", q);
        expect(Number(second.trailers["dai-executors-asked"])).toBe(5);
        expect(
          second.body!.equals(
            flTasksOf(
              refList(tasks, { pubKey: requester, status: "", timeStart: 0n, timeEnd: MAX_I64, limit: 0n }).map(
                bytesOf,
              ),
            ),
          ),
        ).toBe(true);
      } finally {
        for (const e of chain) e.resetCalls();
        await g.close();
      }
    });

    test("addresses outside discoveryAllow are never contacted", async () => {
      const config = testConfig({
        listen: "127.0.0.1:0",
        httpListen: "127.0.0.1:0",
        executors: { seeds: [chain[0]!.address], discoveryAllow: ["10.0.0.0/8"] },
        log: { level: "silent" },
      });
      const gw = await startGateway(config, createLogger("silent"));
      const raw = new RawClient(`127.0.0.1:${gw.grpcPort}`);
      try {
        const r = await raw.call("ListTask", listBytes({ pubKey: requester }));
        expect(r.trailers["dai-executors-asked"]).toBe("1");
        expect(gw.registry.size).toBe(1);
        expect(chain.slice(1).map((e) => e.calls.ListTask)).toEqual([0, 0, 0, 0]);
      } finally {
        raw.close();
        await gw.stop();
        for (const e of chain) e.resetCalls();
      }
    });
  });
});

describe("ListTask answers equal one Executor holding the union", () => {
  let g: Gw;
  beforeAll(async () => {
    g = await gateway([seedOf(0)]);
    await g.raw.call("ListTask", listBytes({ pubKey: Buffer.alloc(0) }));
    expect(g.gw.registry.size).toBe(5);
  });
  afterAll(async () => g.close());

  test("random requests (every key kind, statuses, windows, limits), byte for byte", async () => {
    const keys = [...sim.ledger.requesters.map((k) => k.publicKey), ...sim.keys.map((k) => k.publicKey), fakeKey(3)];
    const times = sim.ledger.tasks.map((t) => t.publishTime);
    const time = fc.oneof(fc.constantFrom(...times), fc.constantFrom(0n, MAX_I64));
    const statuses = [
      "",
      "Confirming",
      "Ready",
      "ToProcess",
      "Processing",
      "Finished",
      "Failed",
      "Rejected",
      "finished",
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          pubKey: fc.constantFrom(...keys),
          status: fc.constantFrom(...statuses),
          timeStart: fc.oneof(fc.constant(0n), time),
          // 0 and -1: no upper bound, no cap (v2.x, spec §4).
          timeEnd: fc.oneof(fc.constant(MAX_I64), fc.constantFrom(0n, -1n), time),
          limit: fc.oneof(fc.constantFrom(0n, -1n), fc.bigInt({ min: 1n, max: 12n })),
        }),
        async (q) => {
          const r = await g.raw.call("ListTask", listBytes(q));
          expect(r.code).toBe(Status.OK);
          const want = refList(unionOf(ALL), q).map(bytesOf);
          expect(r.body!.toString("hex")).toBe(flTasksOf(want).toString("hex"));
        },
      ),
      { numRuns: 40, seed: 7 },
    );
  });

  test("empty pubKey: the union of each Executor's own tasks, computed from the simulator's ledger", async () => {
    const own = ALL.flatMap((i) => held[i]!.filter((t) => involves(t, sim.keys[i]!.publicKey)));
    for (const status of ["", "Processing", "Finished"]) {
      for (const limit of [0n, 5n]) {
        const q = { pubKey: Buffer.alloc(0), status, timeStart: 0n, timeEnd: MAX_I64, limit };
        const r = await g.raw.call("ListTask", listBytes(q));
        const want = refList(refMerge(own), q, true).map(bytesOf);
        expect(want.length).toBeGreaterThan(0);
        expect(r.body!.equals(flTasksOf(want))).toBe(true);
      }
    }
  });

  test("ledger lag: the lagging Executor's older copy loses in ListTask and GetTaskById", async () => {
    const truth = new Map(sim.ledger.tasks.map((t) => [t.iD, t]));
    const conflicts = held[LAGGING]!.filter((t) => !bytesOf(t).equals(bytesOf(truth.get(t.iD)!)));
    expect(conflicts.length).toBeGreaterThan(2);
    const direct = new RawClient(sim.executors[LAGGING]!.address);
    try {
      for (const old of conflicts.slice(0, 4)) {
        const want = truth.get(old.iD)!;
        // The lagging Executor really does say something older.
        const fromLagging = await direct.call("GetTaskById", getBytes(old.iD));
        expect(FLTask.decode(fromLagging.body!).status).toBe(old.status);
        const got = await g.raw.call("GetTaskById", getBytes(old.iD));
        expect(got.code).toBe(Status.OK);
        expect(got.body!.equals(bytesOf(want))).toBe(true);
        const listed = await g.raw.call("ListTask", listBytes({ pubKey: want.requester, status: want.status }));
        expect(listed.body!.includes(bytesOf(want))).toBe(true);
        // Filtering on the stale status must not return the task.
        const stale = await g.raw.call("ListTask", listBytes({ pubKey: want.requester, status: old.status }));
        expect(stale.body!.includes(Buffer.from(old.iD))).toBe(false);
      }
    } finally {
      direct.close();
    }
  });
});

describe("partial answers and strict mode", () => {
  test("an erroring, a stopped and a garbage-sending Executor: answer from the rest, trailers say so", async () => {
    const g = await gateway(allSeeds(), { callTimeoutMs: 1000 });
    try {
      sim.executors[1]!.mode = "garbage";
      sim.executors[2]!.mode = "error";
      await sim.executors[3]!.stop();
      const q = { pubKey: sim.ledger.requesters[0]!.publicKey, status: "", timeStart: 0n, timeEnd: MAX_I64, limit: 0n };
      const r = await g.raw.call("ListTask", listBytes(q));
      expect(r.code).toBe(Status.OK);
      expect(r.trailers["dai-executors-asked"]).toBe("5");
      expect(r.trailers["dai-executors-answered"]).toBe("2");
      expect(r.trailers["dai-executors-failed"]!.split(",").sort()).toEqual(
        [1, 2, 3].map((i) => sim.executors[i]!.address).sort(),
      );
      expect(r.body!.equals(flTasksOf(refList(unionOf([0, 4]), q).map(bytesOf)))).toBe(true);

      const strict = await g.raw.call("ListTask", listBytes(q), { "dai-consistency": "strict" });
      expect(strict.code).toBe(Status.UNAVAILABLE);
      expect(strict.details).toMatch(/strict consistency: 3 Executor\(s\) failed/);
      expect(strict.trailers["dai-executors-failed"]!.split(",")).toHaveLength(3);

      const id = held[0]![0]!.iD;
      const got = await g.raw.call("GetTaskById", getBytes(id), { "dai-consistency": "strict" });
      expect(got.code).toBe(Status.UNAVAILABLE);
      const lenient = await g.raw.call("GetTaskById", getBytes(id));
      expect(lenient.code).toBe(Status.OK);
      expect(lenient.trailers["dai-executors-answered"]).toBe("2");
    } finally {
      await g.close();
    }
  });

  test("strict mode with every Executor healthy answers normally, without a failed trailer", async () => {
    const g = await gateway(allSeeds());
    try {
      const r = await g.raw.call("ListTask", listBytes({ pubKey: sim.keys[0]!.publicKey }), {
        "dai-consistency": "strict",
      });
      expect(r.code).toBe(Status.OK);
      expect(r.trailers["dai-executors-failed"]).toBeUndefined();
      expect(r.trailers["dai-executors-answered"]).toBe("5");
    } finally {
      await g.close();
    }
  });
});

describe("GetTaskById: not found vs unavailable", () => {
  test("NOT_FOUND when all that answered said not found; UNAVAILABLE when none answered", async () => {
    const g = await gateway(allSeeds(), { callTimeoutMs: 1000 });
    try {
      const missing = await g.raw.call("GetTaskById", getBytes("00000000-0000-4000-8000-000000000000"));
      expect(missing.code).toBe(Status.NOT_FOUND);
      expect(missing.trailers["dai-executors-answered"]).toBe("5");

      sim.executors[0]!.mode = "error";
      sim.executors[1]!.mode = "notfound";
      const some = await g.raw.call("GetTaskById", getBytes("00000000-0000-4000-8000-000000000000"));
      expect(some.code).toBe(Status.NOT_FOUND);
      expect(some.trailers["dai-executors-failed"]).toBe(sim.executors[0]!.address);

      for (const e of sim.executors) e.mode = "error";
      const none = await g.raw.call("GetTaskById", getBytes(held[0]![0]!.iD));
      expect(none.code).toBe(Status.UNAVAILABLE);
      expect(none.trailers["dai-executors-answered"]).toBe("0");
      const list = await g.raw.call("ListTask", listBytes({ pubKey: sim.keys[0]!.publicKey }));
      expect(list.code).toBe(Status.UNAVAILABLE);
    } finally {
      await g.close();
    }
  });
});

describe("GetPredictResult", () => {
  test("routed to the model task's label holder only; request and reply relayed untouched", async () => {
    const g = await gateway(allSeeds());
    const [predictId, payload] = [...sim.ledger.results].find(([id]) => sim.ledger.tasks.some((t) => t.iD === id))!;
    const task = sim.ledger.tasks.find((t) => t.iD === predictId)!;
    const model = sim.ledger.tasks.find((t) => t.iD === task.algoParam!.modelTaskID)!;
    const owner = model.dataSets.find((d) => d.isTagPart)!.address;
    const requester = sim.ledger.requesters.find((k) => k.publicKey.equals(task.requester))!;
    const request = TaskRequest.encode({
      pubKey: requester.publicKey,
      taskID: predictId,
      signature: signPredictRequest(requester, predictId),
    }).finish();
    const direct = new RawClient(owner);
    try {
      for (const e of sim.executors) e.resetCalls();
      const r = await g.raw.call("GetPredictResult", request);
      expect(r.code).toBe(Status.OK);
      expect(sim.executors.map((e) => [e.address, e.calls.GetPredictResult])).toEqual(
        sim.executors.map((e) => [e.address, e.address === owner ? 1 : 0]),
      );
      const fromOwner = await direct.call("GetPredictResult", request);
      expect(r.body!.equals(fromOwner.body!)).toBe(true);
      const decoded = PredictResponse.decode(r.body!);
      expect(decoded.taskID).toBe(predictId);
      expect(Buffer.from(decoded.payload).equals(payload)).toBe(true);

      // The owner's own refusal is relayed with a real status code.
      const badSig = Buffer.from(
        TaskRequest.encode({ pubKey: requester.publicKey, taskID: predictId, signature: Buffer.alloc(64, 1) }).finish(),
      );
      const refused = await g.raw.call("GetPredictResult", badSig);
      expect(refused.code).toBe(Status.UNAUTHENTICATED);
    } finally {
      direct.close();
      await g.close();
    }
  });
});

describe("lossless relay", () => {
  test("a newer Executor's task (unknown fields) comes back byte for byte", async () => {
    const x = new SimExecutor("127.0.0.1", "newer");
    await x.start();
    const fixture = wire("fltask_newer_executor");
    const view = x.putRaw(fixture);
    const g = await gateway([x.address]);
    try {
      const got = await g.raw.call("GetTaskById", getBytes(view.id));
      expect(got.body!.equals(fixture)).toBe(true);
      const listed = await g.raw.call("ListTask", listBytes({ pubKey: view.requester }));
      expect(listed.body!.equals(flTasksOf([fixture]))).toBe(true);
    } finally {
      await g.close();
      await x.stop();
    }
  });
});

describe("API surface", () => {
  let g: Gw;
  beforeAll(async () => {
    g = await gateway([seedOf(0)]);
  });
  afterAll(async () => g.close());

  test("StartTask is UNIMPLEMENTED and says why", async () => {
    const r = await g.raw.call("StartTask", TaskRequest.encode(TaskRequest.fromPartial({ taskID: "x" })).finish());
    expect(r.code).toBe(Status.UNIMPLEMENTED);
    expect(r.details).toMatch(/Executor-to-Executor/);
  });

  test("a malformed ListTaskRequest: INVALID_ARGUMENT naming the message", async () => {
    const r = await g.raw.call("ListTask", Buffer.from([0x0a, 0x05]));
    expect(r.code).toBe(Status.INVALID_ARGUMENT);
    expect(r.details).toMatch(/not a valid ListTaskRequest/);
  });

  // What a v2.x Executor accepts, the gateway accepts (spec §4, §5).
  test.each([
    ["a 10-byte key", { pubKey: Buffer.alloc(10) }],
    ["a 65-byte key", { pubKey: Buffer.alloc(65, 1) }],
    ["a 65-character status", { pubKey: fakeKey(1), status: "x".repeat(65) }],
  ])("ListTask with %s: an empty list, as from an Executor, without asking one", async (_name, q) => {
    for (const e of sim.executors) e.resetCalls();
    const r = await g.raw.call("ListTask", listBytes(q));
    expect(r.code).toBe(Status.OK);
    expect(r.body!.length).toBe(0);
    expect(sim.executors.map((e) => e.calls.ListTask)).toEqual([0, 0, 0, 0, 0]);
  });

  test.each([
    ["limit 1001", 1001n],
    ["limit -1 (no cap)", -1n],
    ["limit -5 (no cap)", -5n],
    ["limit max int64", MAX_I64],
  ])("ListTask with %s is answered", async (_name, limit) => {
    const key = sim.keys[0]!.publicKey;
    const r = await g.raw.call("ListTask", listBytes({ pubKey: key, limit }));
    expect(r.code).toBe(Status.OK);
    const want = refList(unionOf(ALL), { pubKey: key, status: "", timeStart: 0n, timeEnd: MAX_I64, limit: 0n });
    expect(r.body!.toString("hex")).toBe(flTasksOf(want.map(bytesOf)).toString("hex"));
  });

  test.each([
    ["GetTaskById", getBytes(""), /^task not found: taskID is empty/],
    ["GetTaskById", getBytes("x".repeat(129)), /^task not found/],
    ["GetPredictResult", TaskRequest.encode(TaskRequest.fromPartial({ taskID: "" })).finish(), /^task not found/],
  ] as const)("%s with an empty or impossible ID: NOT_FOUND, as on an Executor (%#)", async (method, body, message) => {
    const r = await g.raw.call(method, body);
    expect(r.code).toBe(Status.NOT_FOUND);
    expect(r.details).toMatch(message);
  });
});

describe("deadlines and keys", () => {
  test("a slow Executor: executors.callTimeoutMs bounds it, and the client's deadline bounds the call", async () => {
    const g = await gateway(allSeeds(), { callTimeoutMs: 300 });
    try {
      const q = { pubKey: sim.keys[0]!.publicKey, status: "", timeStart: 0n, timeEnd: MAX_I64, limit: 0n };
      await g.raw.call("ListTask", listBytes(q)); // connect first: this is about deadlines, not connecting
      sim.executors[2]!.latencyMs = 4000;
      // no-cache: the first call's answer is cached, and this one is about the fan-out's deadlines.
      const r = await g.raw.call("ListTask", listBytes(q), { "dai-cache-control": "no-cache" }, 3000);
      expect([r.code, r.details]).toEqual([Status.OK, ""]);
      expect(r.trailers["dai-executors-failed"]).toBe(sim.executors[2]!.address);
      expect(r.body!.equals(flTasksOf(refList(unionOf([0, 1, 3, 4]), q).map(bytesOf)))).toBe(true);
    } finally {
      await g.close();
    }
    // A client deadline shorter than callTimeoutMs: the call ends by then, not after the slow Executor.
    const g2 = await gateway(allSeeds(), { callTimeoutMs: 10_000 });
    try {
      const started = Date.now();
      await g2.raw.call("ListTask", listBytes({ pubKey: sim.keys[0]!.publicKey }), {}, 1000);
      expect(Date.now() - started).toBeLessThan(2500);
    } finally {
      await g2.close();
    }
  });

  test("cluster-wide view without any known key: UNAVAILABLE saying why; a keyed call teaches the keys", async () => {
    const g = await gateway([sim.executors[0]!.address]);
    try {
      const before = await g.raw.call("ListTask", listBytes({ pubKey: Buffer.alloc(0) }));
      expect(before.code).toBe(Status.UNAVAILABLE);
      expect(before.details).toMatch(/public key/);
      await g.raw.call("ListTask", listBytes({ pubKey: sim.keys[0]!.publicKey }));
      const after = await g.raw.call("ListTask", listBytes({ pubKey: Buffer.alloc(0) }));
      expect(after.code).toBe(Status.OK);
      expect(Number(after.trailers["dai-executors-asked"])).toBeGreaterThan(0);
    } finally {
      await g.close();
    }
  });

  test("GetPredictResult never calls a result owner outside the Executor set", async () => {
    // Seeds only, empty allow-list: the label holder of some model is not a seed.
    const byId = new Map(sim.ledger.tasks.map((t) => [t.iD, t]));
    // A prediction whose task and model some Executor other than the result holder also holds.
    const [predictId, seed] = [...sim.ledger.resultHolder]
      .flatMap(([id, holder]) =>
        ALL.filter((i) => {
          const held = sim.ledger.holdings.get(i)!;
          return i !== holder && i !== LAGGING && held.has(id) && held.has(byId.get(id)!.algoParam!.modelTaskID);
        }).map((i) => [id, i] as const),
      )
      .at(0)!;
    const g = await gateway([sim.executors[seed]!.address], { discoveryAllow: [] });
    const task = sim.ledger.tasks.find((t) => t.iD === predictId)!;
    const requester = sim.ledger.requesters.find((k) => k.publicKey.equals(task.requester))!;
    try {
      for (const e of sim.executors) e.resetCalls();
      const r = await g.raw.call(
        "GetPredictResult",
        TaskRequest.encode({
          pubKey: requester.publicKey,
          taskID: predictId,
          signature: signPredictRequest(requester, predictId),
        }).finish(),
      );
      // The label holder is outside the set: no result, and no call to it or to any other outsider.
      expect([Status.NOT_FOUND, Status.FAILED_PRECONDITION]).toContain(r.code);
      expect(sim.executors.map((e, i) => (e.calls.GetPredictResult ?? 0) > 0 && i !== seed)).toEqual(
        ALL.map(() => false),
      );
      expect(sim.executors.map((e, i) => (e.calls.GetTaskById ?? 0) > 0 && i !== seed)).toEqual(ALL.map(() => false));
    } finally {
      await g.close();
    }
  });
});
