/** The request pipeline's steps, composed as the gateway composes them, over a fake call. */
import { status } from "@grpc/grpc-js";
import pino from "pino";
import { CallAdmission } from "../../src/api/admission";
import { compose, RequestPipeline, type ServedCall, type ServedEvent, type Step } from "../../src/api/pipeline";
import { GatewayError } from "../../src/core/errors";

function fakeCall(
  over: Partial<ServedCall> & { headers?: Record<string, string> } = {},
): ServedCall & { gone(): void } {
  let onGone: () => void = () => {};
  return {
    method: "ListTask",
    transport: "http",
    peer: "p1",
    header: (n) => over.headers?.[n],
    clientDeadline: over.clientDeadline,
    onGone: (fn) => (onGone = fn),
    gone: () => onGone(),
    ...over,
  };
}

const silent = pino({ level: "silent" });

describe("compose", () => {
  test("steps run in order, outermost first, around the handler", async () => {
    const trace: string[] = [];
    const step =
      (name: string): Step =>
      async (_ctx, next) => {
        trace.push(`>${name}`);
        const r = await next();
        trace.push(`<${name}`);
        return r;
      };
    const run = compose([step("a"), step("b")]);
    const ctx = { call: fakeCall(), deadline: 0, requestId: "" };
    expect(await run(ctx, async () => (trace.push("h"), 7))).toBe(7);
    expect(trace).toEqual([">a", ">b", "h", "<b", "<a"]);
  });
});

describe("RequestPipeline", () => {
  test("request id: a plain client id is kept, anything else replaced; deadline defaults", async () => {
    const p = new RequestPipeline({ defaultDeadlineMs: 5000 }, silent);
    const ids = await Promise.all(
      ["abc-1", "x".repeat(65), "bad id!"].map((id) =>
        p.serve(fakeCall({ headers: { "x-request-id": id } }), async (ctx) => ctx.requestId),
      ),
    );
    expect(ids[0]).toBe("abc-1");
    expect(ids[1]).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids[2]).toMatch(/^[0-9a-f-]{36}$/);
    const before = Date.now();
    const d = await p.serve(fakeCall(), async (ctx) => ctx.deadline);
    expect(d - before).toBeGreaterThanOrEqual(5000);
    expect(await p.serve(fakeCall({ clientDeadline: 42 }), async (ctx) => ctx.deadline)).toBe(42);
  });

  test("the deadline rule learns a handler's own work (workMs), not a call the client paces", async () => {
    const admission = new CallAdmission({ maxConcurrentCalls: 100, maxConcurrentCallsPerConnection: 100 });
    const p = new RequestPipeline({ defaultDeadlineMs: 5000, admission }, silent);
    const call = () => fakeCall({ method: "GetPredictResult" });
    // Streamed relays to slow readers: 60 ms each, of which 1 ms is the gateway's own work.
    await Promise.all(
      Array.from({ length: 25 }, () =>
        p.serve(call(), async (ctx) => {
          ctx.workMs = 1;
          await new Promise((r) => setTimeout(r, 60));
        }),
      ),
    );
    // A fast client with 30 ms left is admitted: the calls' work takes ~1 ms, not 60.
    const fast = fakeCall({ method: "GetPredictResult", clientDeadline: Date.now() + 30 });
    await expect(p.serve(fast, async () => "ok")).resolves.toBe("ok");
  });

  test("one error type out: unexpected errors become INTERNAL without their text; events carry the final code and cache", async () => {
    const p = new RequestPipeline({ defaultDeadlineMs: 5000 }, silent);
    const served: ServedEvent[] = [];
    p.served.subscribe((e) => served.push(e));
    await expect(p.serve(fakeCall(), () => Promise.reject(new Error("secret detail")))).rejects.toMatchObject({
      code: status.INTERNAL,
      message: "internal error",
    });
    await expect(
      p.serve(fakeCall(), () => Promise.reject(new GatewayError(status.NOT_FOUND, "nope"))),
    ).rejects.toBeInstanceOf(GatewayError);
    await p.serve(fakeCall(), async (ctx) => {
      ctx.cache = "hit";
    });
    expect(served.map((e) => [e.method, e.transport, e.code, e.cache])).toEqual([
      ["ListTask", "http", status.INTERNAL, undefined],
      ["ListTask", "http", status.NOT_FOUND, undefined],
      ["ListTask", "http", status.OK, "hit"],
    ]);
  });

  test("admission refuses over the limit (counted as served with its code) and releases after each call", async () => {
    const admission = new CallAdmission({ maxConcurrentCalls: 1, maxConcurrentCallsPerConnection: 1 });
    const p = new RequestPipeline({ defaultDeadlineMs: 5000, admission }, silent);
    const served: ServedEvent[] = [];
    p.served.subscribe((e) => served.push(e));
    let release: () => void = () => {};
    const first = p.serve(fakeCall(), () => new Promise<void>((r) => (release = r)));
    await expect(p.serve(fakeCall({ peer: "p2" }), async () => 1)).rejects.toMatchObject({
      code: status.RESOURCE_EXHAUSTED,
    });
    expect(admission.active).toBe(1);
    release();
    await first;
    expect(admission.active).toBe(0);
    expect(served.map((e) => e.code)).toEqual([status.RESOURCE_EXHAUSTED, status.OK]);
  });

  test("a call whose deadline already passed is refused before the handler runs", async () => {
    const admission = new CallAdmission({ maxConcurrentCalls: 1, maxConcurrentCallsPerConnection: 1 });
    const p = new RequestPipeline({ defaultDeadlineMs: 5000, admission }, silent);
    let ran = false;
    await expect(
      p.serve(fakeCall({ clientDeadline: Date.now() - 1 }), async () => {
        ran = true;
      }),
    ).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
    expect(ran).toBe(false);
    expect(admission.active).toBe(0);
  });

  test("a call that never asks for its abort signal (a cache hit) does not watch the client: no AbortController, no onGone", async () => {
    const p = new RequestPipeline({ defaultDeadlineMs: 5000 }, silent);
    let watched = 0;
    let gone = false;
    const call = fakeCall({
      lateGone: true,
      onGone: (fn) => {
        watched++;
        if (gone) fn();
      },
    });
    await p.serve(call, async () => 1);
    expect(watched).toBe(0);
    // Asked after the client went away: aborted at once.
    const aborted = await p.serve(call, async (ctx) => {
      gone = true;
      return ctx.signal?.aborted;
    });
    expect(watched).toBe(1);
    expect(aborted).toBe(true);
  });

  test("a client going away aborts the call's signal", async () => {
    const p = new RequestPipeline({ defaultDeadlineMs: 5000 }, silent);
    const call = fakeCall();
    const aborted = await p.serve(call, async (ctx) => {
      call.gone();
      return ctx.signal?.aborted;
    });
    expect(aborted).toBe(true);
  });
});

describe("served lines of cache hits are sampled", () => {
  test("hits without an x-request-id log one line in HIT_LOG_SAMPLE; named hits, misses and errors all log", async () => {
    const lines: { requestId: string; code: string }[] = [];
    const log = pino(
      { level: "info" },
      { write: (l: string) => void lines.push(JSON.parse(l) as { requestId: string; code: string }) },
    );
    const p = new RequestPipeline({ defaultDeadlineMs: 5000 }, log);
    const events: ServedEvent[] = [];
    p.served.subscribe((e) => events.push(e));
    const hit = (headers?: Record<string, string>) =>
      p.serve(fakeCall({ headers }), async (ctx) => {
        ctx.cache = "hit";
      });
    for (let i = 0; i < 250; i++) await hit();
    expect(lines.length).toBe(3);
    await hit({ "x-request-id": "named-hit" });
    await p.serve(fakeCall(), async (ctx) => {
      ctx.cache = "miss";
    });
    await expect(
      p.serve(fakeCall(), () => Promise.reject(new GatewayError(status.NOT_FOUND, "no"))),
    ).rejects.toBeInstanceOf(GatewayError);
    expect(lines.length).toBe(6);
    expect(lines[3]!.requestId).toBe("named-hit");
    // Metrics see every call.
    expect(events.length).toBe(253);
    // Fresh IDs stay unique and UUID-shaped.
    const ids = new Set(
      await Promise.all(Array.from({ length: 50 }, () => p.serve(fakeCall(), async (c) => c.requestId))),
    );
    expect(ids.size).toBe(50);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });
});
