/**
 * Hostile clients: concurrency limits, oversize requests, and a fuzz run of random and
 * mutated requests on all four methods against a live gateway. Every reply must be a
 * valid message or a clean status; the gateway must keep serving.
 */
import * as grpc from "@grpc/grpc-js";
import {
  FLTask,
  FLTasks,
  GetTaskRequest,
  ListTaskRequest,
  PredictResponse,
  TaskRequest,
} from "../../src/gen/task/task";
import type { RunningGateway } from "../../src/gateway";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import { prng } from "../../src/sim/ledger";
import { wire } from "../helpers/fixtures";
import { gatewayFor, rawCall, rawClient, type MethodName, type RawReply } from "../helpers/resilience";
import { listAllBody } from "../helpers/requests";

let sim: SimCluster;
beforeAll(async () => {
  sim = await startSimCluster({ executors: 3, seed: 11, trainingTasks: 12 });
});
afterAll(() => sim.stop());

const listBody = (pubKey: Buffer): Buffer => listAllBody(pubKey);
const isolated = { "grpc.use_local_subchannel_pool": 1 };

describe("concurrency limits", () => {
  beforeAll(() => sim.executors.forEach((e) => (e.latencyMs = 300)));
  afterAll(() => sim.executors.forEach((e) => (e.latencyMs = 0)));

  test("api.maxConcurrentCalls: calls beyond it get RESOURCE_EXHAUSTED, the rest are served", async () => {
    const gw = await gatewayFor(sim, { api: { maxConcurrentCalls: 3 } });
    const client = rawClient(gw.grpcPort);
    try {
      const key = sim.ledger.requesters[0]!.publicKey;
      const replies = await Promise.all(
        Array.from({ length: 7 }, () => rawCall(client, "ListTask", listBody(key), { deadlineMs: 5000 })),
      );
      const codes = replies.map((r) => r.err?.code ?? grpc.status.OK).sort();
      expect(codes.filter((c) => c === grpc.status.OK)).toHaveLength(3);
      expect(codes.filter((c) => c === grpc.status.RESOURCE_EXHAUSTED)).toHaveLength(4);
      expect(replies.find((r) => r.err)?.err?.details).toContain("api.maxConcurrentCalls");
      // Slots are released: the next call is served.
      expect((await rawCall(client, "ListTask", listBody(key), { deadlineMs: 5000 })).err).toBeUndefined();
      expect(gw.admission.active).toBe(0);
    } finally {
      client.close();
      await gw.stop();
    }
  });

  test("api.maxConcurrentCallsPerConnection limits one connection, not the others", async () => {
    const gw = await gatewayFor(sim, { api: { maxConcurrentCallsPerConnection: 2 } });
    const a = rawClient(gw.grpcPort, undefined, isolated);
    const b = rawClient(gw.grpcPort, undefined, isolated);
    try {
      const key = sim.ledger.requesters[0]!.publicKey;
      const call = (c: grpc.Client): Promise<RawReply> => rawCall(c, "ListTask", listBody(key), { deadlineMs: 5000 });
      const [ra, rb] = await Promise.all([
        Promise.all([call(a), call(a), call(a), call(a)]),
        Promise.all([call(b), call(b)]),
      ]);
      const okA = ra.filter((r) => !r.err).length;
      expect(okA).toBe(2);
      expect(ra.filter((r) => r.err?.code === grpc.status.RESOURCE_EXHAUSTED)).toHaveLength(2);
      expect(rb.every((r) => !r.err)).toBe(true);
    } finally {
      a.close();
      b.close();
      await gw.stop();
    }
  });
});

describe("fuzz", () => {
  let gw: RunningGateway;
  let client: grpc.Client;
  const MAX_REQUEST = 4096;
  beforeAll(async () => {
    gw = await gatewayFor(sim, { api: { maxRequestBytes: MAX_REQUEST, maxListTasks: 100 } });
    client = rawClient(gw.grpcPort);
  });
  afterAll(async () => {
    client.close();
    await gw.stop();
  });

  test("an oversize request is refused with RESOURCE_EXHAUSTED", async () => {
    const r = await rawCall(client, "ListTask", Buffer.alloc(MAX_REQUEST + 1, 0x0a), { deadlineMs: 5000 });
    expect(r.err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  test("thousands of random and mutated requests: zero crashes, only valid replies or clean statuses", async () => {
    const rand = prng(2026);
    const int = (n: number): number => Math.floor(rand() * n);
    const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
    const ledgerIds = sim.ledger.tasks.map((t) => t.iD);
    const keys = [...sim.ledger.requesters.map((r) => r.publicKey), ...sim.keys.map((k) => k.publicKey)];
    const seeds: Buffer[] = [
      wire("list_request"),
      wire("get_task_request"),
      wire("task_request"),
      listBody(keys[0]!),
      Buffer.from(GetTaskRequest.encode({ taskID: ledgerIds[0]! }).finish()),
    ];
    const bigints = [0n, 1n, -1n, 100n, 101n, 2n ** 63n - 1n, -(2n ** 63n), 1_700_000_000_000_000_000n];
    const strings = ["", "Finished", "Processing", "finished", "\u0000", "é".repeat(70), "x".repeat(300), "💥"];

    const structured = (): Buffer => {
      switch (int(3)) {
        case 0:
          return Buffer.from(
            ListTaskRequest.encode({
              pubKey: pick([Buffer.alloc(0), pick(keys), bytes(int(100))]),
              status: pick(strings),
              timeStart: pick(bigints),
              timeEnd: pick(bigints),
              limit: pick(bigints),
            }).finish(),
          );
        case 1:
          return Buffer.from(GetTaskRequest.encode({ taskID: pick([...strings, ...ledgerIds]) }).finish());
        default:
          return Buffer.from(
            TaskRequest.encode({
              pubKey: pick([pick(keys), bytes(int(80))]),
              taskID: pick([...strings, ...ledgerIds]),
              signature: bytes(pick([0, 63, 64, 65])),
            }).finish(),
          );
      }
    };
    const mutate = (src: Buffer): Buffer => {
      const b = Buffer.from(src);
      switch (int(6)) {
        case 0: // flip bits
          for (let i = 0, n = 1 + int(4); i < n && b.length > 0; i++) {
            const at = int(b.length);
            b[at] = b[at]! ^ (1 << int(8));
          }
          return b;
        case 1: // truncate
          return b.subarray(0, int(b.length + 1));
        case 2: // insert random bytes
          return Buffer.concat([b.subarray(0, int(b.length)), bytes(1 + int(8)), b.subarray(int(b.length))]);
        case 3: // overlong varint / bogus tag
          return Buffer.concat([
            b,
            Buffer.from([int(256), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
          ]);
        case 4: // repeat fields
          return Buffer.concat([b, b.subarray(0, int(b.length))]);
        default: // splice two seeds
          return Buffer.concat([b.subarray(0, int(b.length)), pick(seeds).subarray(int(20))]);
      }
    };

    const methods: MethodName[] = ["ListTask", "GetTaskById", "GetPredictResult", "StartTask"];
    const clean = new Set([
      grpc.status.INVALID_ARGUMENT,
      grpc.status.NOT_FOUND,
      grpc.status.FAILED_PRECONDITION,
      grpc.status.PERMISSION_DENIED,
      grpc.status.UNAUTHENTICATED,
      grpc.status.UNIMPLEMENTED,
      grpc.status.RESOURCE_EXHAUSTED,
    ]);
    const decoders: Record<MethodName, (b: Buffer) => unknown> = {
      ListTask: (b) => FLTasks.decode(b),
      GetTaskById: (b) => FLTask.decode(b),
      GetPredictResult: (b) => PredictResponse.decode(b),
      StartTask: () => {
        throw new Error("StartTask must not succeed");
      },
    };

    const TOTAL = 2000;
    const tally: Record<string, number> = {};
    const problems: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < TOTAL) {
        next++;
        const method = pick(methods);
        const r = rand();
        const body = r < 0.3 ? bytes(int(200)) : r < 0.65 ? mutate(pick(seeds)) : structured();
        const reply = await rawCall(client, method, body, { deadlineMs: 5000 });
        const code = reply.err?.code ?? grpc.status.OK;
        tally[grpc.status[code]] = (tally[grpc.status[code]] ?? 0) + 1;
        if (reply.err) {
          if (!clean.has(code)) problems.push(`${method} ${body.toString("hex")}: ${code} ${reply.err.details}`);
          if (/\n\s+at |Error:/.test(reply.err.details)) problems.push(`stack trace leaked: ${reply.err.details}`);
        } else {
          try {
            decoders[method](reply.body!);
          } catch (err) {
            problems.push(`${method}: undecodable OK reply (${(err as Error).message})`);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    expect(problems).toEqual([]);
    // The run reached the data path, not just the decoder.
    expect(tally.OK ?? 0).toBeGreaterThan(50);
    expect(tally.INVALID_ARGUMENT ?? 0).toBeGreaterThan(100);
    // Still serving, and nothing stuck.
    const after = await rawCall(client, "ListTask", listBody(keys[0]!), { deadlineMs: 5000 });
    expect(after.err).toBeUndefined();
    expect(FLTasks.decode(after.body!).fLTasks.length).toBeGreaterThan(0);
    expect(gw.admission.active).toBe(0);
  });
});
