/**
 * What the gateway knows about each Executor's health, for `/v1/executors` and the
 * dashboard: the outcome and latency of the last call made to it (every call's
 * outcome, from the ExecutorClients), refreshed by a light probe when asked for a
 * status and the last probe is older than the probe interval. The probe is a ListTask
 * with the Executor's own key (it also counts the tasks the Executor takes part in)
 * or, when the key is unknown, a GetTaskById for an ID that cannot exist; it goes
 * around the Executor's circuit (neither waits for it nor counts). "Healthy"
 * is the outcome classification's (src/upstream/outcome.ts): a "not found" — whatever
 * code family the Executor sends it in — is an answer.
 */
import { GetTaskRequest } from "../gen/task/task";
import { encodeListRequest, type Generation } from "../generations/list-request";
import { decodeTaskList } from "../wire/task-view";
import type { ExecutorClients } from "./executor-client";
import { isHealthy, type OutcomeEvent } from "./outcome";
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
  probeIntervalMs: number;
  /** Each Executor's generation: the probe is written in its layout (v2 when absent). */
  generationOf?: (address: string) => Generation;
}

const PROBE_TASK_ID = "dai-gateway-health-probe";
const MAX_INT64 = (1n << 63n) - 1n;

export class ExecutorStatusTracker {
  private readonly byAddress = new Map<string, ExecutorStatus>();
  private readonly probedAt = new Map<string, number>();
  private inFlight?: Promise<void>;

  constructor(
    private readonly registry: ExecutorRegistry,
    private readonly clients: ExecutorClients,
    private readonly opts: StatusOptions,
  ) {
    clients.outcomes.subscribe((e) => this.observe(e));
    // Forgotten with the entry, not at the next status read: with nobody reading
    // /v1/executors, candidates coming and going would pile up here.
    registry.changes.subscribe((c) => {
      if (c.kind !== "removed") return;
      this.byAddress.delete(c.entry.address);
      this.probedAt.delete(c.entry.address);
    });
  }

  private observe(e: OutcomeEvent): void {
    // Only Executors in the set are tracked, so the map stays bounded by the set's cap.
    if (!this.registry.get(e.address)) return;
    // Calls that were not made, or ended by the gateway's own doing, say nothing about the Executor.
    if (e.kind === "circuit-open" || e.kind === "shortfall") return;
    const h = this.entry(e.address);
    h.healthy = isHealthy(e.kind);
    h.lastLatencyMs = Math.round(e.durationMs * 10) / 10;
    h.lastCallAt = Date.now();
    if (h.healthy) delete h.lastError;
    else h.lastError = e.message || e.kind;
  }

  /** Executors with a status held (bounded by the set). */
  get size(): number {
    return this.byAddress.size;
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
    // The ExecutorClients' gateway-wide limiter bounds the calls in flight.
    await Promise.all(stale.map((a) => this.probe(a)));
  }

  private async probe(address: string): Promise<void> {
    this.probedAt.set(address, Date.now());
    const key = this.registry.get(address)?.pubKey;
    const timeout = this.opts.callTimeoutMs;
    // The probe's own "client deadline": room for one full call timeout.
    const ctx = { deadline: Date.now() + Math.ceil(timeout * 1.25) + 500, requestId: "probe" };
    const client = this.clients.get(address);
    if (key) {
      // In the Executor's own layout: a v3 Executor would read v2's timeEnd as its timeStart.
      const req = encodeListRequest(
        { pubKey: key, ePubKey: Buffer.alloc(0), status: "", timeStart: 0n, timeEnd: MAX_INT64, limit: 0n },
        this.opts.generationOf?.(address) ?? "v2",
      );
      const o = await client.call("listTask", req, ctx, { decode: decodeTaskList, probe: true });
      if (o.kind === "answered") {
        const h = this.entry(address);
        h.tasks = o.value.length;
        h.tasksAt = Date.now();
      }
    } else {
      const req = GetTaskRequest.encode({ taskID: PROBE_TASK_ID }).finish();
      await client.call("getTaskById", Buffer.from(req), ctx, { decode: () => undefined, probe: true });
    }
  }
}
