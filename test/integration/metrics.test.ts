/**
 * /metrics against real traffic: every number is checked against an independent count
 * (client-observed status codes, the simulated Executors' own call counters, trailers),
 * and the exposition passes `promtool check metrics`.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { ClientError, Metadata, Status } from "nice-grpc";
import type { KeyPair } from "../../src/crypto/p256";
import { signPredictRequest } from "../../src/crypto/p256";
import { families, parseExposition, promtool, sum, type Sample } from "../helpers/prometheus";
import { startRig, trailers, type ObsRig } from "../helpers/obs-gateway";

jest.setTimeout(30_000);

const DEPLOY = path.join(__dirname, "..", "..", "deploy", "observability");

describe("GET /metrics", () => {
  let rig: ObsRig;
  let text: string;
  let samples: Sample[];
  /** Before any GetPredictResult: its internal task lookups fan out without client-visible trailers. */
  let beforePredict: Sample[];
  const served = new Map<string, number>(); // "method code" -> calls, as the client saw them
  const failedSeen = new Map<string, number>(); // "method" -> calls whose trailer named the down Executor
  const cacheSeen = new Map<string, number>(); // "method result" -> calls answered OK with that dai-cache trailer
  let down: string;

  const count = (method: string, code: string): void => {
    served.set(`${method} ${code}`, (served.get(`${method} ${code}`) ?? 0) + 1);
  };

  async function drive<T>(method: string, call: (t: ReturnType<typeof trailers>) => Promise<T>): Promise<void> {
    const t = trailers();
    try {
      await call(t);
      count(method, "OK");
      const cache = t.get("dai-cache");
      if (cache) cacheSeen.set(`${method} ${cache}`, (cacheSeen.get(`${method} ${cache}`) ?? 0) + 1);
    } catch (err) {
      if (!(err instanceof ClientError)) throw err;
      count(method, Status[err.code]);
    }
    if ((t.get("dai-executors-failed") ?? "").split(",").includes(down)) {
      failedSeen.set(method, (failedSeen.get(method) ?? 0) + 1);
    }
  }

  beforeAll(async () => {
    // Circuits stay closed here, so every failure is a real upstream call (see the circuit test below).
    rig = await startRig({ executors: 3, config: { executors: { circuitFailures: 1000 } } });
    const dead = rig.sim.executors[2]!;
    down = dead.address;
    await dead.stop();

    const now = BigInt(Date.now()) * 1_000_000n;
    // Fresh fan-outs every time, so fan-out counts follow the calls whatever the cache holds.
    const metadata = Metadata({ "dai-cache-control": "no-cache" });
    for (let i = 0; i < 5; i++) {
      await drive("ListTask", (t) =>
        rig.client.listTask(
          { pubKey: Buffer.alloc(0), timeEnd: now, limit: BigInt(i * 3) },
          { onTrailer: t.onTrailer, metadata },
        ),
      );
    }
    await drive("ListTask", (t) => rig.client.listTask({ limit: 10_000_000n }, { onTrailer: t.onTrailer }));
    const ids = rig.sim.ledger.tasks.slice(0, 4).map((task) => task.iD);
    for (const id of [...ids, "no-such-task"]) {
      await drive("GetTaskById", (t) => rig.client.getTaskById({ taskID: id }, { onTrailer: t.onTrailer, metadata }));
    }
    await drive("StartTask", (t) => rig.client.startTask({ taskID: "x" }, { onTrailer: t.onTrailer }));
    beforePredict = parseExposition(await (await fetch(`${rig.httpUrl}/metrics`)).text());
    // Prediction requests the gateway refuses: malformed signature, wrong requester.
    const [requester, stranger] = rig.sim.ledger.requesters as [KeyPair, KeyPair];
    const predictId = [...rig.sim.ledger.results.keys()][0]!;
    await drive("GetPredictResult", (t) =>
      rig.client.getPredictResult(
        { pubKey: requester.publicKey, taskID: predictId, signature: Buffer.alloc(3) },
        { onTrailer: t.onTrailer },
      ),
    );
    for (const who of [requester, stranger]) {
      await drive("GetPredictResult", (t) =>
        rig.client.getPredictResult(
          { pubKey: who.publicKey, taskID: predictId, signature: signPredictRequest(who, predictId) },
          { onTrailer: t.onTrailer },
        ),
      );
    }

    const res = await fetch(`${rig.httpUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    text = await res.text();
    samples = parseExposition(text);
  });

  afterAll(async () => {
    await rig?.stop();
  });

  it("passes promtool check metrics", () => {
    const r = promtool(["check", "metrics"], text);
    expect(r.output).toBe("");
    expect(r.status).toBe(0);
  });

  it("names its own metrics dai_gateway_* next to the default process metrics", () => {
    const names = families(text);
    expect(names).toContain("process_cpu_seconds_total");
    const ours = names.filter((n) => !/^(process|nodejs)_/.test(n));
    expect(ours.length).toBeGreaterThan(10);
    for (const n of ours) expect(n).toMatch(/^dai_gateway_/);
  });

  it("counts served calls by method and code exactly as the client saw them", () => {
    expect(served.size).toBeGreaterThanOrEqual(4);
    for (const [key, n] of served) {
      const [method, code] = key.split(" ") as [string, string];
      expect({ key, total: sum(samples, "dai_gateway_requests_total", { method, code }) }).toEqual({ key, total: n });
      expect({ key, hist: sum(samples, "dai_gateway_request_duration_seconds_count", { method, code }) }).toEqual({
        key,
        hist: n,
      });
    }
    const all = [...served.values()].reduce((a, b) => a + b, 0);
    expect(sum(samples, "dai_gateway_requests_total")).toBe(all);
  });

  it("counts upstream calls per Executor as the Executors counted them", () => {
    for (const e of rig.sim.executors.slice(0, 2)) {
      for (const method of ["ListTask", "GetTaskById"]) {
        const got = sum(samples, "dai_gateway_upstream_requests_total", { executor: e.address, method });
        expect({ executor: e.address, method, got }).toEqual({ executor: e.address, method, got: e.calls[method] });
      }
      expect(sum(samples, "dai_gateway_executor_up", { executor: e.address })).toBe(1);
    }
    const unreachable = sum(beforePredict, "dai_gateway_upstream_requests_total", {
      executor: down,
      code: "UNAVAILABLE",
    });
    expect(unreachable).toBe((failedSeen.get("ListTask") ?? 0) + (failedSeen.get("GetTaskById") ?? 0));
    expect(unreachable).toBeGreaterThan(0);
    expect(sum(samples, "dai_gateway_executor_up", { executor: down })).toBe(0);
    expect(sum(samples, "dai_gateway_upstream_request_duration_seconds_count")).toBe(
      sum(samples, "dai_gateway_upstream_requests_total"),
    );
  });

  it("counts fan-outs and partial answers by method", () => {
    for (const method of ["ListTask", "GetTaskById"]) {
      expect(sum(beforePredict, "dai_gateway_partial_answers_total", { method })).toBe(failedSeen.get(method) ?? 0);
    }
    // Every valid ListTask/GetTaskById fans out once (no cache here); invalid ones never do.
    const valid = (m: string): number =>
      [...served]
        .filter(([k]) => k.startsWith(`${m} `) && !k.endsWith("INVALID_ARGUMENT"))
        .reduce((a, [, n]) => a + n, 0);
    expect(sum(beforePredict, "dai_gateway_fanouts_total", { method: "ListTask" })).toBe(valid("ListTask"));
    expect(sum(beforePredict, "dai_gateway_fanouts_total", { method: "GetTaskById" })).toBe(valid("GetTaskById"));
  });

  it("counts cache results as the dai-cache trailers reported them", () => {
    expect(cacheSeen.size).toBeGreaterThan(0);
    const kind: Record<string, string> = { ListTask: "list", GetTaskById: "task" };
    for (const [key, n] of cacheSeen) {
      const [method, result] = key.split(" ") as [string, string];
      const got = sum(samples, "dai_gateway_cache_operations_total", { kind: kind[method]!, result });
      expect({ key, got }).toEqual({ key, got: n });
    }
    const all = [...cacheSeen.values()].reduce((a, b) => a + b, 0);
    expect(sum(samples, "dai_gateway_cache_operations_total")).toBe(all);
  });

  it("counts prediction refusals by reason as the prediction service counted them", () => {
    const refused = Object.entries(rig.gw.predictions.stats.refused).filter(([, n]) => n > 0);
    expect(refused.length).toBeGreaterThan(0);
    for (const [reason, n] of refused) {
      expect({ reason, got: sum(samples, "dai_gateway_predict_refusals_total", { reason }) }).toEqual({
        reason,
        got: n,
      });
    }
    expect(sum(samples, "dai_gateway_predict_refusals_total")).toBe(refused.reduce((a, [, n]) => a + n, 0));
  });

  it("reports the Executor set sizes", () => {
    expect(sum(samples, "dai_gateway_executors", { set: "known" })).toBe(rig.gw.registry.size);
    expect(sum(samples, "dai_gateway_executors", { set: "discovered" })).toBe(
      rig.gw.registry.list().filter((e) => e.source === "discovered").length,
    );
    expect(sum(samples, "dai_gateway_executors", { set: "healthy" })).toBe(2);
  });

  it("exposes every metric the dashboard and the alert rules use", () => {
    const have = new Set(families(text));
    const used = new Set<string>();
    for (const file of ["grafana-dashboard.json", "alerts.yml"]) {
      const content = readFileSync(path.join(DEPLOY, file), "utf8");
      for (const m of content.matchAll(/\bdai_gateway_[a-z_]+/g)) used.add(m[0].replace(/_(bucket|count|sum)$/, ""));
    }
    expect(used.size).toBeGreaterThan(5);
    for (const name of used) expect({ name, exposed: have.has(name) }).toEqual({ name, exposed: true });
  });
});

describe("circuit state in /metrics", () => {
  it("shows an Executor's open circuit as the circuit breaker reports it", async () => {
    const rig = await startRig({ executors: 2, config: { executors: { circuitFailures: 2 } } });
    try {
      const dead = rig.sim.executors[1]!;
      await dead.stop();
      for (let i = 0; i < 4; i++) await rig.client.listTask({ pubKey: Buffer.alloc(0), timeEnd: 1n });
      const samples = parseExposition(await (await fetch(`${rig.httpUrl}/metrics`)).text());
      const code: Record<string, number> = { closed: 0, "half-open": 1, open: 2 };
      for (const e of rig.sim.executors) {
        const state = rig.gw.health.state(e.address).state;
        expect({
          executor: e.address,
          state: sum(samples, "dai_gateway_circuit_state", { executor: e.address }),
        }).toEqual({ executor: e.address, state: e === dead ? 2 : code[state] });
        if (e === dead) expect(state).toBe("open");
      }
      expect(sum(samples, "dai_gateway_executors", { set: "healthy" })).toBe(1);
    } finally {
      await rig.stop();
    }
  });
});
