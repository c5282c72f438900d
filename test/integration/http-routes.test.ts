/**
 * The HTTP/JSON routes against a live gateway and simulated Executors: envelopes,
 * protobuf JSON mapping (int64 as strings, bytes as base64), errors and their HTTP
 * statuses, partial answers in the body, prediction relay, Executor status, CORS.
 * Expected values come from the simulated ledger, not from the gateway.
 */
import { signPredictRequest } from "../../src/crypto/p256";
import { FLTask } from "../../src/gen/task/task";
import { TaskType } from "../../src/gen/common/common";
import { compareListOrder } from "../../src/merge/merge";
import { MAX_TIME_NS } from "../../src/merge/sanity";
import { decodeTaskView } from "../../src/wire/task-view";
import { postJson, startPeopleCluster, type PeopleCluster } from "../helpers/people-cluster";

const ALLOWED_ORIGIN = "http://dashboard.example";
let c: PeopleCluster;

beforeAll(async () => {
  c = await startPeopleCluster({
    executors: 4,
    seed: 21,
    // Two consecutive failures open a circuit, so the "down" test sees one open.
    config: { http: { corsOrigins: [ALLOWED_ORIGIN], probeIntervalMs: 50 }, executors: { circuitFailures: 2 } },
  });
});
afterAll(async () => {
  await c?.stop();
});

/** The ledger's tasks in an Executor's list order (newest first, ties by ID). */
function ledgerInListOrder(): FLTask[] {
  const views = c.sim.ledger.tasks.map((t) => decodeTaskView(Buffer.from(FLTask.encode(t).finish())));
  return views.sort(compareListOrder).map((v) => FLTask.decode(v.raw));
}

describe("POST /v1/task/list", () => {
  test("the cluster-wide list is the whole ledger, newest first, in protobuf JSON", async () => {
    const r = await postJson(c.httpBase, "/v1/task/list", {});
    expect(r.status).toBe(200);
    expect(r.body.code).toBe("0");
    const expected = ledgerInListOrder().map((t) => FLTask.toJSON(t));
    expect((r.body.data as { fLTasks: unknown[] }).fLTasks).toEqual(expected);
    expect(r.body.executors).toEqual({ asked: 4, answered: 4, failed: [] });
  });

  test("64-bit fields are decimal strings and bytes are base64", async () => {
    const r = await postJson(c.httpBase, "/v1/task/list", { limit: "3" });
    const tasks = (r.body.data as { fLTasks: Record<string, unknown>[] }).fLTasks;
    expect(tasks).toHaveLength(3);
    const byId = new Map(c.sim.ledger.tasks.map((t) => [t.iD, t]));
    for (const t of tasks) {
      const want = byId.get(t.iD as string)!;
      expect(typeof t.publishTime).toBe("string");
      expect(BigInt(t.publishTime as string)).toBe(want.publishTime);
      expect(Buffer.from(t.requester as string, "base64").equals(want.requester)).toBe(true);
      const ds = (t.dataSets as Record<string, string>[])[0]!;
      expect(Buffer.from(ds.executor!, "base64").equals(want.dataSets[0]!.executor)).toBe(true);
    }
  });

  test("an int64 beyond 2^53 survives both ways exactly", async () => {
    // Far beyond 2^53 (not representable as a double), yet within the sanity window (before 2200).
    const big = MAX_TIME_NS - 12345n;
    expect(BigInt(Number(big))).not.toBe(big);
    const requester = c.sim.ledger.requesters[0]!.publicKey;
    const task = FLTask.fromPartial({
      iD: "00000000-0000-4000-8000-00000000b16e",
      name: "big-times",
      requester,
      status: "Finished",
      publishTime: big,
      endTime: big + 1n,
    });
    c.sim.executors[0]!.putRaw(Buffer.from(FLTask.encode(task).finish()));
    try {
      const r = await postJson(c.httpBase, "/v1/task/list", {
        pubKey: requester.toString("base64"),
        timeStart: (big - 1n).toString(),
        timeEnd: "9223372036854775807",
      });
      expect(r.body.code).toBe("0");
      const got = (r.body.data as { fLTasks: Record<string, string>[] }).fLTasks;
      expect(got.map((t) => t.iD)).toEqual([task.iD]);
      expect(got[0]!.publishTime).toBe(big.toString());
      expect(got[0]!.endTime).toBe((big + 1n).toString());
    } finally {
      c.sim.executors[0]!.deleteTask(task.iD);
    }
  });

  test("filters by key (hex accepted as PaddleDTX tools print it), status and limit", async () => {
    const key = c.sim.ledger.requesters[1]!.publicKey;
    const expected = ledgerInListOrder().filter((t) => t.requester.equals(key) && t.status === "Finished");
    expect(expected.length).toBeGreaterThan(0);
    const r = await postJson(c.httpBase, "/v1/task/list", { pubKey: key.toString("hex"), status: "Finished" });
    const ids = (r.body.data as { fLTasks: { iD: string }[] }).fLTasks.map((t) => t.iD);
    expect(ids).toEqual(expected.map((t) => t.iD));
    const capped = await postJson(c.httpBase, "/v1/task/list", { pubKey: key.toString("base64"), limit: 1 });
    expect((capped.body.data as { fLTasks: { iD: string }[] }).fLTasks.map((t) => t.iD)).toEqual([
      ledgerInListOrder().filter((t) => t.requester.equals(key))[0]!.iD,
    ]);
  });

  test.each([
    ["not JSON", "{oops", /not valid JSON/],
    ["a JSON array", "[]", /JSON object/],
    ["a non-base64 key", { pubKey: "%%%" }, /^pubKey: not valid base64/],
    ["a fractional time", { timeStart: 1.5 }, /^timeStart: expected a 64-bit integer/],
    ["an int64 overflow", { timeEnd: "9223372036854775808" }, /^timeEnd: out of the int64 range/],
    ["an unknown field", { pubkey: "" }, /^pubkey: unknown field of ListTaskRequest/],
    ["a status that is not a string", { status: 3 }, /^status: expected a string/],
  ])("rejects %s with 400 and XDAT0002 naming the problem", async (_name, body, message) => {
    const r = await postJson(c.httpBase, "/v1/task/list", body);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe("XDAT0002");
    expect(r.body.message).toMatch(message);
    expect(r.body.data).toBeNull();
  });

  test("a body over api.maxRequestBytes is refused with 413, also when streamed without a length", async () => {
    const big = JSON.stringify({ status: "x".repeat(1024 * 1024 + 10) });
    const r = await postJson(c.httpBase, "/v1/task/list", big);
    expect(r.status).toBe(413);
    const stream = new ReadableStream({
      start(ctrl) {
        for (let i = 0; i < 20; i++) ctrl.enqueue(new TextEncoder().encode(" ".repeat(64 * 1024)));
        ctrl.close();
      },
    });
    const res = await fetch(`${c.httpBase}/v1/task/list`, {
      method: "POST",
      body: stream,
      duplex: "half",
    } as RequestInit & { duplex: string });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe("XDAT0002");
  });
});

describe("POST /v1/task/getbyid", () => {
  test("returns the task and the Executors that hold a copy", async () => {
    const t = c.sim.ledger.tasks.find((x) => x.dataSets.length >= 2)!;
    const r = await postJson(c.httpBase, "/v1/task/getbyid", { taskID: t.iD });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual(FLTask.toJSON(t));
    const holders = c.sim.executors.filter((e) => e.taskIds().includes(t.iD)).map((e) => e.address);
    expect([...(r.body.holders ?? [])].sort()).toEqual(holders.sort());
    expect(r.body.executors).toMatchObject({ asked: 4, answered: 4 });
    // Asked again within cache.taskTtlMs: a cache hit that still names the holders.
    const again = await postJson(c.httpBase, "/v1/task/getbyid", { taskID: t.iD });
    expect(again.body.cache).toBe("hit");
    expect(again.body.data).toEqual(FLTask.toJSON(t));
    expect([...(again.body.holders ?? [])].sort()).toEqual(holders.sort());
  });

  test("unknown task -> 404 XDAT0004; missing taskID -> 404 too", async () => {
    const nf = await postJson(c.httpBase, "/v1/task/getbyid", { taskID: "no-such-task" });
    expect(nf.status).toBe(404);
    expect(nf.body.code).toBe("XDAT0004");
    expect(nf.body.message).toMatch(/no-such-task not found/);
    // An empty ID is not found, as on an Executor (spec §5).
    const missing = await postJson(c.httpBase, "/v1/task/getbyid", {});
    expect(missing.status).toBe(404);
    expect(missing.body.message).toMatch(/^task not found: taskID is empty/);
  });
});

describe("POST /v1/task/predictres/get", () => {
  function predictionWithResult(): { id: string; requesterIndex: number } {
    for (const [id] of c.sim.ledger.results) {
      const t = c.sim.ledger.tasks.find((x) => x.iD === id)!;
      const i = c.sim.ledger.requesters.findIndex((r) => r.publicKey.equals(t.requester));
      if (i >= 0) return { id, requesterIndex: i };
    }
    throw new Error("the simulated ledger has no prediction result");
  }

  test("a signed request gets the payload from the label holder, as base64", async () => {
    const { id, requesterIndex } = predictionWithResult();
    const kp = c.sim.ledger.requesters[requesterIndex]!;
    const r = await postJson(c.httpBase, "/v1/task/predictres/get", {
      pubKey: kp.publicKey.toString("hex"),
      taskID: id,
      signature: signPredictRequest(kp, id).toString("base64"),
    });
    expect(r.status).toBe(200);
    const data = r.body.data as { taskID: string; payload: string };
    expect(data.taskID).toBe(id);
    expect(Buffer.from(data.payload, "base64").equals(c.sim.ledger.results.get(id)!)).toBe(true);
  });

  test("a bad signature -> 401 XDAT0008; another key -> 403 XDAT0006; a training task -> 400", async () => {
    const { id, requesterIndex } = predictionWithResult();
    const kp = c.sim.ledger.requesters[requesterIndex]!;
    const sig = signPredictRequest(kp, id);
    sig[10] = sig[10]! ^ 0xff;
    const bad = await postJson(c.httpBase, "/v1/task/predictres/get", {
      pubKey: kp.publicKey.toString("base64"),
      taskID: id,
      signature: sig.toString("base64"),
    });
    expect([bad.status, bad.body.code]).toEqual([401, "XDAT0008"]);

    const other = c.sim.ledger.requesters[(requesterIndex + 1) % c.sim.ledger.requesters.length]!;
    const wrongKey = await postJson(c.httpBase, "/v1/task/predictres/get", {
      pubKey: other.publicKey.toString("base64"),
      taskID: id,
      signature: signPredictRequest(other, id).toString("base64"),
    });
    expect([wrongKey.status, wrongKey.body.code]).toEqual([403, "XDAT0006"]);

    const training = c.sim.ledger.tasks.find((t) => t.algoParam?.taskType === TaskType.LEARN)!;
    const notPredict = await postJson(c.httpBase, "/v1/task/predictres/get", {
      pubKey: kp.publicKey.toString("base64"),
      taskID: training.iD,
      signature: signPredictRequest(kp, training.iD).toString("base64"),
    });
    expect(notPredict.status).toBe(400);
    expect(notPredict.body.code).toBe("FAILED_PRECONDITION");
  });
});

describe("GET /v1/executors, CORS and the dashboard page", () => {
  test("lists every Executor as healthy with the task count it reports for its own key", async () => {
    const res = await fetch(`${c.httpBase}/v1/executors`);
    const body = (await res.json()) as {
      code: string;
      data: {
        executors: { address: string; healthy: boolean; tasks: number; circuit: string; pubKey: string }[];
        cache: { available: boolean; hitRatio: number | null; hits: number; misses: number };
      };
    };
    expect(body.code).toBe("0");
    const byTask = new Map(c.sim.ledger.tasks.map((t) => [t.iD, t]));
    for (const [i, e] of c.sim.executors.entries()) {
      const key = c.sim.keys[i]!.publicKey;
      const expected = e
        .taskIds()
        .map((id) => byTask.get(id))
        .filter((t) => t && (t.requester.equals(key) || t.dataSets.some((d) => d.executor.equals(key)))).length;
      const got = body.data.executors.find((x) => x.address === e.address)!;
      expect(got).toMatchObject({ healthy: true, tasks: expected, circuit: "closed", pubKey: key.toString("hex") });
    }
    // The in-process cache's own counters, as a ratio.
    const stats = c.gw.cache.stats;
    const hits = stats.hits + stats.stale;
    expect(body.data.cache).toMatchObject({ available: true, hits: stats.hits, misses: stats.misses });
    expect(body.data.cache.hitRatio).toBe(hits + stats.misses === 0 ? null : hits / (hits + stats.misses));
  });

  test("CORS headers only for configured origins; preflight answered", async () => {
    const ok = await fetch(`${c.httpBase}/v1/task/list`, {
      method: "OPTIONS",
      headers: { origin: ALLOWED_ORIGIN, "access-control-request-method": "POST" },
    });
    expect(ok.status).toBe(204);
    expect(ok.headers.get("access-control-allow-origin")).toBe(ALLOWED_ORIGIN);
    const other = await postJson(c.httpBase, "/v1/task/list", {}, { origin: "http://evil.example" });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    const allowed = await postJson(c.httpBase, "/v1/task/list", {}, { origin: ALLOWED_ORIGIN });
    expect(allowed.headers.get("access-control-allow-origin")).toBe(ALLOWED_ORIGIN);
  });

  test("GET / serves the dashboard page with a strict content security policy", async () => {
    const res = await fetch(`${c.httpBase}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(res.headers.get("content-security-policy")).toMatch(/connect-src 'self'/);
    expect(await res.text()).toMatch(/<title>dai-gateway · cluster dashboard<\/title>/);
  });
});

describe("with an Executor down", () => {
  test("lists answer partially and say so; strict consistency turns that into 503; status shows it down", async () => {
    const down = c.sim.executors[3]!;
    await down.stop();
    try {
      // no-cache: a fresh fan-out (a cached answer would still say 4 answered).
      const r = await postJson(c.httpBase, "/v1/task/list", {}, { "dai-cache-control": "no-cache" });
      expect(r.status).toBe(200);
      expect(r.body.cache).not.toBe("hit");
      expect(r.body.executors!.asked).toBe(4);
      expect(r.body.executors!.answered).toBe(3);
      expect(r.body.executors!.failed.map((f) => f.address)).toEqual([down.address]);

      const strict = await postJson(
        c.httpBase,
        "/v1/task/list",
        {},
        { "dai-consistency": "strict", "dai-cache-control": "no-cache" },
      );
      expect(strict.status).toBe(503);
      expect(strict.body.code).toBe("UNAVAILABLE");
      expect(strict.body.executors!.failed.map((f) => f.address)).toEqual([down.address]);

      await new Promise((r) => setTimeout(r, 60)); // past http.probeIntervalMs
      const st = (await (await fetch(`${c.httpBase}/v1/executors`)).json()) as {
        data: { executors: { address: string; healthy: boolean; lastError: string | null; circuit: string }[] };
      };
      const entry = st.data.executors.find((e) => e.address === down.address)!;
      expect(entry.healthy).toBe(false);
      // Two failed fan-outs in a row (executors.circuitFailures = 2): its circuit is open, the others' closed.
      expect(entry.circuit).toBe("open");
      expect(st.data.executors.filter((e) => e.circuit === "closed")).toHaveLength(3);
      expect(entry.lastError).toBeTruthy();
      expect(st.data.executors.filter((e) => e.healthy)).toHaveLength(3);
    } finally {
      await down.start();
    }
  });
});

describe("admission limits shared with gRPC", () => {
  test("an HTTP call beyond api.maxConcurrentCalls gets 429 RESOURCE_EXHAUSTED while a gRPC call is in flight", async () => {
    const small = await startPeopleCluster({
      executors: 2,
      seed: 22,
      trainingTasks: 4,
      config: { api: { maxConcurrentCalls: 1 } },
    });
    try {
      for (const e of small.sim.executors) e.latencyMs = 600;
      const slow = small.client.listTask({ pubKey: Buffer.alloc(0), timeEnd: BigInt(Date.now()) * 1_000_000n });
      await new Promise((r) => setTimeout(r, 150)); // the gRPC call is admitted and waiting on the Executors
      const r = await postJson(small.httpBase, "/v1/task/list", {});
      expect(r.status).toBe(429);
      expect(r.body.code).toBe("RESOURCE_EXHAUSTED");
      expect(r.body.message).toMatch(/api\.maxConcurrentCalls = 1/);
      await slow;
      for (const e of small.sim.executors) e.latencyMs = 0;
      const after = await postJson(small.httpBase, "/v1/task/list", {});
      expect(after.body.code).toBe("0");
    } finally {
      await small.stop();
    }
  });
});
