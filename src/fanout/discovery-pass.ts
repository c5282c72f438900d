/**
 * The bounded background half of discovery (issue 15, "decode only what the answer
 * needs"). A ListTask fan-out decodes only the tasks that can reach the answer, and
 * offers their addresses at once; the tasks it never decoded still name Executors
 * today's rules would discover, so their bytes are queued here and read a bounded
 * slice at a time, off the request path:
 *
 * - the queue holds at most `maxQueuedBytes` of task bytes (copied out of the replies, so
 *   no reply buffer is pinned); what does not fit is left out and counted, and the next
 *   fan-out offers it again;
 * - every `intervalMs`, at most `tasksPerInterval` tasks are decoded, screened against a
 *   query they were sent (implausible or off-filter tasks feed no discovery, as today),
 *   and offered to `discover` charged to the Executor that sent them — the registry's
 *   per-source discovery budget bounds what they can add;
 * - a task already read (same ID, same bytes length) within the last `rememberTasks`
 *   reads is not queued again: a task's data-set addresses are fixed when it is
 *   published, and the same tasks come back in every fan-out.
 */
import { matchesQuery, type ListQuery } from "../merge/filter";
import { taskProblem } from "../merge/sanity";
import { decodeTaskView, WireError, type TaskView } from "../wire/task-view";

export interface DiscoveryPassOptions {
  maxQueuedBytes: number;
  tasksPerInterval: number;
  intervalMs: number;
  rememberTasks: number;
}

export const DISCOVERY_PASS_DEFAULTS: DiscoveryPassOptions = {
  maxQueuedBytes: 4 << 20,
  tasksPerInterval: 512,
  intervalMs: 20,
  rememberTasks: 50_000,
};

interface Pending {
  /** The task's ID as the scan read it ("" when unknown: no dedup). */
  id: string;
  bytes: Buffer;
  sent: ListQuery[];
  source?: string;
}

export interface DiscoveryPassStats {
  queued: number;
  read: number;
  /** Left out because the queue was full. */
  overflow: number;
  /** Screened out (implausible, off filter, malformed). */
  dropped: number;
}

/** Reads the ID (field 1) of an FLTask without decoding it; "" when absent. */
function taskId(bytes: Buffer): string {
  // The scan put field 1 first in every task the gateway relays; fall back to a decode-free
  // miss (the task is then queued without dedup).
  if (bytes.length < 2 || bytes[0] !== 0x0a) return "";
  const len = bytes[1]!;
  if (len >= 0x80 || 2 + len > bytes.length) return "";
  return bytes.toString("latin1", 2, 2 + len);
}

export class DiscoveryPass {
  private queue: Pending[] = [];
  private head = 0;
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Task ID -> byte length of the copy read (insertion order: oldest first). */
  private readonly seen = new Map<string, number>();
  readonly stats: DiscoveryPassStats = { queued: 0, read: 0, overflow: 0, dropped: 0 };

  constructor(
    private readonly discover: (tasks: readonly TaskView[], from: string) => void,
    private readonly opts: DiscoveryPassOptions = DISCOVERY_PASS_DEFAULTS,
  ) {}

  /**
   * True when a copy of task `id` with this byte length was read lately: offering it again
   * adds nothing (the fan-out skips such copies before building anything for them).
   */
  readonly knows = (id: string, length: number): boolean => id !== "" && this.seen.get(id) === length;

  /**
   * Queues task copies a fan-out did not decode. Cheap: an ID check and one copy per new
   * task. `id`: the task's ID as the fan-out's scan read it (else peeked from the bytes).
   */
  offer(items: Iterable<{ id?: string; bytes: Buffer; sent: ListQuery[]; source?: string }>): void {
    const pendingIds = new Set<string>();
    for (const it of items) {
      const id = it.id ?? taskId(it.bytes);
      if (id !== "") {
        if (this.seen.get(id) === it.bytes.length || pendingIds.has(id)) continue;
        pendingIds.add(id);
      }
      if (this.queuedBytes + it.bytes.length > this.opts.maxQueuedBytes) {
        this.stats.overflow++;
        continue;
      }
      this.queue.push({ id, bytes: Buffer.from(it.bytes), sent: it.sent, source: it.source });
      this.queuedBytes += it.bytes.length;
      this.stats.queued++;
    }
    this.schedule();
  }

  /** Pending task copies (tests, metrics). */
  get pending(): number {
    return this.queue.length - this.head;
  }

  private schedule(): void {
    if (this.timer !== undefined || this.pending === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.step();
      this.schedule();
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  /** Reads one interval's worth of the queue. */
  step(): void {
    const bySource = new Map<string, TaskView[]>();
    const end = Math.min(this.queue.length, this.head + this.opts.tasksPerInterval);
    for (; this.head < end; this.head++) {
      const p = this.queue[this.head]!;
      this.queuedBytes -= p.bytes.length;
      this.stats.read++;
      let t: TaskView;
      try {
        t = decodeTaskView(p.bytes);
      } catch (err) {
        if (!(err instanceof WireError)) throw err;
        this.stats.dropped++;
        continue;
      }
      if (p.id !== "") this.remember(p.id, p.bytes.length);
      if (taskProblem(t) !== undefined || !p.sent.some((s) => matchesQuery(t, s))) {
        this.stats.dropped++;
        continue;
      }
      const from = p.source ?? "";
      const list = bySource.get(from);
      if (list) list.push(t);
      else bySource.set(from, [t]);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    for (const [from, tasks] of bySource) this.discover(tasks, from);
  }

  private remember(id: string, length: number): void {
    this.seen.delete(id);
    this.seen.set(id, length);
    if (this.seen.size > this.opts.rememberTasks) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
  }

  /** Stops the timer (what is queued stays unread). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
