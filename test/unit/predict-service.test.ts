/**
 * GetPredictResult as one module: checks, tasks through the reader it is given,
 * routing, and the relay through the ExecutorClients — now under the circuits —
 * over in-memory clients and a fake reader.
 */
import { status } from "@grpc/grpc-js";
import { PredictRefusal } from "../../src/auth/predict-auth";
import type { GetAnswer, TaskReader } from "../../src/core/reader";
import { FanoutReport } from "../../src/core/report";
import { signPredictRequest } from "../../src/crypto/p256";
import { signWithRule } from "../../src/generations/signature";
import { TaskType } from "../../src/gen/common/common";
import { FLTask, TaskRequest } from "../../src/gen/task/task";
import { PredictService, type PredictAttempt } from "../../src/predict/service";
import { deterministicKeyPair } from "../../src/sim/ledger";
import { AllowList } from "../../src/upstream/allowlist";
import { ExecutorClients } from "../../src/upstream/executor-client";
import { ExecutorHealth } from "../../src/upstream/health";
import { ExecutorRegistry } from "../../src/upstream/registry";
import { decodeTaskView, type TaskView } from "../../src/wire/task-view";
import { executorError, KEY, MemoryTransport, silent } from "../helpers/memory-transport";

const requester = deterministicKeyPair("predict-unit");
const OWNER = "10.0.0.1:8184";
const OTHER = "10.0.0.2:8184";

const view = (t: FLTask): TaskView => decodeTaskView(Buffer.from(FLTask.encode(t).finish()));
const model = view(
  FLTask.fromPartial({
    iD: "model",
    requester: requester.publicKey,
    status: "Finished",
    dataSets: [
      { address: OTHER, executor: KEY(2) },
      { address: OWNER, executor: KEY(1), isTagPart: true },
    ],
  }),
);
const predictTask = view(
  FLTask.fromPartial({
    iD: "p1",
    requester: requester.publicKey,
    status: "Finished",
    algoParam: { taskType: TaskType.PREDICT, modelTaskID: "model" },
    dataSets: [{ address: OWNER, executor: KEY(1) }],
  }),
);

const reader: TaskReader = {
  list: () => Promise.reject(new Error("not used")),
  get: async (id): Promise<GetAnswer> => {
    const report = FanoutReport.fromAnswered([OWNER]);
    const task = id === "p1" ? predictTask : id === "model" ? model : undefined;
    return { task, report, cache: "bypass" };
  },
};

function rig(
  answers: Record<string, () => Buffer | ReturnType<typeof executorError> | { code: status; details: string }>,
  generations: Record<string, "v2" | "v3"> = {},
) {
  const transport = new MemoryTransport();
  for (const [a, f] of Object.entries(answers)) transport.on(a, f);
  const circuits = new ExecutorHealth({ failures: 1, halfOpenAfterMs: 60_000, maxHalfOpenAfterMs: 60_000 });
  const clients = new ExecutorClients(transport, circuits, {
    callTimeoutMs: { listTask: 1000, getTaskById: 1000, getPredictResult: 1000 },
    maxUpstreamCalls: 4,
  });
  const registry = new ExecutorRegistry(new AllowList(["10.0.0.0/8"]), 10);
  const service = new PredictService(
    reader,
    registry,
    clients,
    {
      maxBytes: 1 << 20,
      callTimeoutMs: 1000,
      ratePerMinute: 0,
      maxConcurrent: 2,
      generationOf: (a) => generations[a] ?? "v2",
    },
    silent,
  );
  const attempts: PredictAttempt[] = [];
  service.attempts.subscribe((a) => attempts.push(a));
  return { service, transport, circuits, attempts };
}

const req = TaskRequest.fromPartial({
  pubKey: requester.publicKey,
  taskID: "p1",
  signature: signPredictRequest(requester, "p1"),
});
const raw = Buffer.from(TaskRequest.encode(req).finish());
const ctx = () => ({ deadline: Date.now() + 5000, requestId: "t" });

describe("PredictService", () => {
  test("the label holder answers: its bytes are relayed untouched, the request as the client sent it", async () => {
    const reply = Buffer.from("result-bytes");
    const r = rig({ [OWNER]: () => reply });
    expect((await r.service.handle(raw, req, ctx())).equals(reply)).toBe(true);
    expect(r.transport.calls.map((c) => [c.address, c.method, c.request.equals(raw)])).toEqual([
      [OWNER, "getPredictResult", true],
    ]);
    expect(r.service.stats).toMatchObject({ served: 1, servedByFallback: 0 });
  });

  test("not-found on the owner moves on to the model's other data sets", async () => {
    const r = rig({ [OWNER]: () => executorError("XDAT0004", "no result"), [OTHER]: () => Buffer.from("r") });
    await r.service.handle(raw, req, ctx());
    expect(r.attempts.map((a) => [a.address, a.role, a.outcome])).toEqual([
      [OWNER, "owner", "not-found"],
      [OTHER, "model-data-set", "ok"],
    ]);
    expect(r.service.stats.servedByFallback).toBe(1);
  });

  test("the relay is under the owner's circuit: once open, the owner is skipped", async () => {
    const r = rig({
      [OWNER]: () => ({ code: status.UNAVAILABLE, details: "down" }),
      [OTHER]: () => executorError("XDAT0004", "no result"),
    });
    await expect(r.service.handle(raw, req, ctx())).rejects.toMatchObject({ code: status.UNAVAILABLE });
    expect(r.circuits.state(OWNER).state).toBe("open");
    r.transport.calls.length = 0;
    await expect(r.service.handle(raw, req, ctx())).rejects.toMatchObject({ reason: "owner_unavailable" });
    expect(r.transport.asked()).toEqual([OTHER]);
  });

  test("a refusal is a GatewayError with its reason, counted and published", async () => {
    const r = rig({});
    const refusals: string[] = [];
    r.service.refusals.subscribe((e) => refusals.push(e.reason));
    const forged = { ...req, signature: Buffer.alloc(64, 1) };
    const err = await r.service.handle(raw, forged, ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PredictRefusal);
    expect(refusals).toEqual(["bad_signature"]);
    expect(r.service.stats.refused.bad_signature).toBe(1);
    expect(r.transport.calls).toHaveLength(0);
  });

  describe("signature rules across generations (the gateway cannot re-sign)", () => {
    const v3req = { ...req, signature: signWithRule(requester, "p1", "v3") };

    test("v3-signed, v3 label holder: relayed", async () => {
      const r = rig({ [OWNER]: () => Buffer.from("r") }, { [OWNER]: "v3", [OTHER]: "v2" });
      expect((await r.service.handle(raw, v3req, ctx())).toString()).toBe("r");
    });

    test("v2-signed, v3 label holder: FAILED_PRECONDITION naming both rules, nothing sent", async () => {
      const r = rig({ [OWNER]: () => Buffer.from("r") }, { [OWNER]: "v3" });
      const err = (await r.service.handle(raw, req, ctx()).catch((e: unknown) => e)) as PredictRefusal;
      expect([err.code, err.reason]).toEqual([status.FAILED_PRECONDITION, "wrong_signature_rule"]);
      expect(err.message).toContain("signed under the v2 rule");
      expect(err.message).toContain(`${OWNER}, is v3 and accepts only`);
      expect(r.transport.calls).toHaveLength(0);
      expect(r.service.stats.refused.wrong_signature_rule).toBe(1);
    });

    test("a fallback of the other generation is never asked; the owner's not-found then ends the route", async () => {
      const r = rig(
        { [OWNER]: () => executorError("10004", "no result"), [OTHER]: () => Buffer.from("r") },
        { [OWNER]: "v3", [OTHER]: "v2" },
      );
      await expect(r.service.handle(raw, v3req, ctx())).rejects.toMatchObject({ code: status.NOT_FOUND });
      expect(r.transport.asked()).toEqual([OWNER]);
    });
  });
});
