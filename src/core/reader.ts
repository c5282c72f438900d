/**
 * The read path's one interface: ListTask and GetTaskById over the cluster. The
 * fan-out implements it (src/fanout/task-fanout.ts); the cache wraps it as a
 * decorator (src/cache/cached-reader.ts); the API and the prediction service use
 * whichever they are given.
 */
import type { ListQuery } from "../merge/filter";
import type { TaskView } from "../wire/task-view";
import type { CallContext, FanoutReport } from "./report";

export type CacheStatus = "hit" | "miss" | "stale" | "bypass";

export interface ListAnswer {
  /** Must not be changed: it may be a cache snapshot shared by many answers. */
  tasks: readonly TaskView[];
  report: FanoutReport;
  cache: CacheStatus;
}

export interface GetAnswer {
  task?: TaskView;
  report: FanoutReport;
  cache: CacheStatus;
  /** Executors that returned a copy in the fetch behind this answer (when known). */
  holders?: string[];
}

export interface ReadOptions {
  /** `dai-cache-control: no-cache`: fetch fresh and refill. */
  noCache?: boolean;
  /** GetTaskById for a person (HTTP, dashboard): also say which Executors hold the task. */
  holders?: boolean;
  /**
   * GetTaskById: Executors likely to hold the task (known holders), asked first; a
   * terminal copy from them is the answer, otherwise the others are asked too.
   */
  preferred?: readonly string[];
}

export interface TaskReader {
  list(q: ListQuery, ctx: CallContext, opts?: ReadOptions): Promise<ListAnswer>;
  get(taskID: string, ctx: CallContext, opts?: ReadOptions): Promise<GetAnswer>;
}
