/**
 * What the gateway knows about each Executor's health: the outcome and latency of the
 * last call made to it (every upstream call is observed through the pool), refreshed
 * by a light probe when asked for a status and the last probe is older than the
 * probe interval. The probe is a ListTask with the Executor's own key (it also counts
 * the tasks the Executor takes part in) or, when the key is unknown, a GetTaskById
 * for an ID that cannot exist (a "not found" is a healthy answer).
 */
import { status as Status } from "@grpc/grpc-js";
import pLimit from "p-limit";
import { GetTaskRequest } from "../gen/task/task";
import { encodeListRequest, type Generation } from "../generations/list-request";
import { decodeTaskList, WireError } from "../wire/task-view";
import { classifyUpstreamError } from "./errors";
import type { UpstreamPool } from "./pool";
import type { ExecutorRegistry } from "./registry";

export interface ExecutorStatus {
  address: string;
  /** True when the last call got an answer (a "not found" counts as one). */
  healthy?: boolean;
  lastLatencyMs?: number;
  /** Unix ms of the last observed call. */
  lastCallAt?: number;
  lastError?: string;
  /** Tasks this Executor takes part in (or published), as of the last probe with its key. */
  tasks?: number;
  tasksAt?: number;
}

export interface StatusOptions {
  callTimeoutMs: number;
  concurrency: number;
  probeIntervalMs: number;
  /** Each Executor's generation: the probe is written in its layout (v2 when absent). */
  generationOf?: (address: string) => Generation;
}

const PROBE_TASK_ID = "dai-gateway-health-probe";
const MAX_INT64 = (1n << 63n) - 1n;

/** Codes that mean the Executor answered, just not with data. */
const ANSWERED = new Set([Status.OK, Status.NOT_FOUND, Status.INVALID_ARGUMENT, Status.PERMISSION_DENIED]);

export class ExecutorStatusTracker {
  private readonly byAddress = new Map<string, ExecutorStatus>();
  private readonly probedAt = new Map<string, number>();
  private inFlight?: Promise<void>;

  constructor(
    private readonly registry: ExecutorRegistry,
    private readonly pool: UpstreamPool,
    private readonly opts: StatusOptions,
  ) {
    pool.observe((e) => {
      // Only Executors in the set are tracked, so the map stays bounded by the set's cap.
      if (!registry.get(e.address)) return;
      const h = this.entry(e.address);
      const code = e.ok ? Status.OK : e.code;
      h.healthy = ANSWERED.has(code);
      h.lastLatencyMs = Math.round(e.durationMs * 10) / 10;
      h.lastCallAt = Date.now();
      if (h.healthy) delete h.lastError;
      else h.lastError = Status[code] ?? String(code);
    });
  }

  private entry(address: string): ExecutorStatus {
    let h = this.byAddress.get(address);
    if (!h) {
      h = { address };
      this.byAddress.set(address, h);
    }
    return h;
  }

  /** Health of every Executor in the set, probing those not probed within the interval. */
  async snapshot(): Promise<ExecutorStatus[]> {
    // Concurrent callers (several dashboards) share one probe round.
    this.inFlight ??= this.probeStale().finally(() => {
      this.inFlight = undefined;
    });
    await this.inFlight;
    return this.registry.list().map((e) => ({ ...this.entry(e.address) }));
  }

  private async probeStale(): Promise<void> {
    const known = new Set(this.registry.addresses());
    for (const a of [...this.byAddress.keys()]) if (!known.has(a)) this.byAddress.delete(a);
    for (const a of [...this.probedAt.keys()]) if (!known.has(a)) this.probedAt.delete(a);
    const now = Date.now();
    const stale = [...known].filter((a) => now - (this.probedAt.get(a) ?? 0) >= this.opts.probeIntervalMs);
    const limit = pLimit(this.opts.concurrency);
    await Promise.all(stale.map((a) => limit(() => this.probe(a))));
  }

  private async probe(address: string): Promise<void> {
    this.probedAt.set(address, Date.now());
    const key = this.registry.get(address)?.pubKey;
    const deadline = new Date(Date.now() + this.opts.callTimeoutMs);
    const h = this.entry(address);
    try {
      if (key) {
        const req = encodeListRequest(
          { pubKey: key, ePubKey: Buffer.alloc(0), status: "", timeStart: 0n, timeEnd: MAX_INT64, limit: 0n },
          this.opts.generationOf?.(address) ?? "v2",
        );
        const reply = await this.pool.call(address, "listTask", req, deadline);
        h.tasks = decodeTaskList(reply).length;
        h.tasksAt = Date.now();
      } else {
        const req = GetTaskRequest.encode({ taskID: PROBE_TASK_ID }).finish();
        await this.pool.call(address, "getTaskById", Buffer.from(req), deadline);
      }
    } catch (err) {
      if (err instanceof WireError) {
        h.healthy = false;
        h.lastError = `malformed reply: ${err.message}`;
        return;
      }
      // The pool observer already recorded the outcome; keep a readable reason.
      if (!h.healthy) h.lastError = classifyUpstreamError(err).message.slice(0, 200);
    }
  }
}
