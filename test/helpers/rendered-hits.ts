/**
 * The cache and the ListTask handler as the gateway wires them (CachingReader in front of
 * an inner reader whose tasks a test changes), served through the request pipeline.
 */
import pino from "pino";
import { RequestPipeline, type ServedCall, type ServedEvent } from "../../src/api/pipeline";
import { taskReadHandlers, type Reply } from "../../src/api/task-service";
import { CachingReader } from "../../src/cache/caching-reader";
import { parseConfig } from "../../src/config/load";
import type { ConfigInput } from "../../src/config/schema";
import type { GetAnswer, ListAnswer, TaskReader } from "../../src/core/reader";
import { FanoutReport } from "../../src/core/report";
import { ListTaskRequest, type FLTask } from "../../src/gen/task/task";
import { AllowList } from "../../src/upstream/allowlist";
import { ExecutorRegistry } from "../../src/upstream/registry";
import { decodeTaskView } from "../../src/wire/task-view";
import { task, taskReply } from "./memory-transport";

const log = pino({ level: "silent" });

export const ADDRESSES = ["10.0.0.1:8184", "10.0.0.2:8184"];

/** `n` tasks published at 1000, 2000, ... (list order: newest first). */
export function ledger(n: number, status = "Finished"): FLTask[] {
  return Array.from({ length: n }, (_, i) => task(`t${i}`, { status, publishTime: BigInt(1000 * (i + 1)) }));
}

export interface Served {
  reply: Reply;
  cache?: string;
}

export interface HitsSetup {
  reader: CachingReader;
  registry: ExecutorRegistry;
  /** The inner reader's tasks (replace to change what the next fetch sees). */
  tasks: FLTask[];
  calls: { list: number };
  clock: { t: number };
  /** ListTask through the pipeline and the handler with kept hits. */
  list(req?: Partial<ListTaskRequest>, headers?: Record<string, string>): Promise<Served>;
  /** The same request through a handler without kept hits (today's slow path, for comparison). */
  listSlow(req?: Partial<ListTaskRequest>, headers?: Record<string, string>): Promise<Served>;
  close(): Promise<void>;
}

function call(headers: Record<string, string>): ServedCall {
  return {
    method: "ListTask",
    transport: "grpc",
    peer: "p",
    header: (n) => headers[n],
    onGone: () => {},
  };
}

export function hitsSetup(input: ConfigInput = {}, opts: { now?: () => number } = {}): HitsSetup {
  const config = parseConfig(input);
  const clock = { t: 1_000_000 };
  const now = opts.now ?? (() => clock.t);
  const registry = new ExecutorRegistry(new AllowList([]), 10, { departAfterMs: 1000 }, now);
  for (const a of ADDRESSES) registry.addSeed(a);
  const calls = { list: 0 };
  const state = { tasks: ledger(5) };
  const inner: TaskReader = {
    list: async (q): Promise<ListAnswer> => {
      calls.list++;
      const r = new FanoutReport();
      r.asked.push(...ADDRESSES);
      r.answered.push(...ADDRESSES);
      const ordered = [...state.tasks].sort((a, b) => (a.publishTime > b.publishTime ? -1 : 1));
      const cut = q.limit > 0n ? ordered.slice(0, Number(q.limit)) : ordered;
      return { tasks: cut.map((t) => decodeTaskView(taskReply(t))), report: r, cache: "bypass" };
    },
    get: async (): Promise<GetAnswer> => ({ report: new FanoutReport(), cache: "bypass" }),
  };
  const reader = new CachingReader(config, registry, inner, log, now);
  const pipeline = new RequestPipeline({ defaultDeadlineMs: 5000 }, log);
  let last: ServedEvent | undefined;
  pipeline.served.subscribe((e) => (last = e));
  const opts2 = { maxListTasks: 1000 };
  const kept = taskReadHandlers(reader, opts2, reader);
  const slow = taskReadHandlers(reader, opts2);
  const serve =
    (h: typeof kept) =>
    async (req: Partial<ListTaskRequest> = {}, headers: Record<string, string> = {}): Promise<Served> => {
      const bytes = Buffer.from(ListTaskRequest.encode(ListTaskRequest.fromPartial({ limit: 3n, ...req })).finish());
      const reply = await pipeline.serve(call(headers), (ctx) => h.ListTask(bytes, ctx));
      return { reply, cache: last?.cache };
    };
  return {
    reader,
    registry,
    get tasks() {
      return state.tasks;
    },
    set tasks(v: FLTask[]) {
      state.tasks = v;
    },
    calls,
    clock,
    list: serve(kept),
    listSlow: serve(slow),
    close: () => reader.close(),
  };
}

/** A reply's content: the body's bytes and the trailers as the client gets them. */
export function contentOf(r: Reply): { body: string; trailers: Record<string, unknown> } {
  return { body: r.body.toString("hex"), trailers: r.trailers?.getMap() ?? {} };
}
