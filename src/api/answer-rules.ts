/**
 * When a cluster answer is an answer: the rules the gRPC service and the HTTP/JSON
 * routes share, so both fail the same way for the same fan-out outcome.
 */
import { status as Status } from "@grpc/grpc-js";
import { GatewayError } from "../core/errors";
import type { GetAnswer, ListAnswer, ReadOptions, TaskReader } from "../core/reader";
import { FanoutReport, type CallContext } from "../core/report";
import type { ListQuery } from "../merge/filter";
import type { TaskView } from "../wire/task-view";
import { listMatchesNothing } from "./validate";

/**
 * A ListTask answer from the reader — except for a query no task can match (a key of the
 * wrong length, ...): the empty list an Executor gives, without asking one.
 */
export function readList(reader: TaskReader, q: ListQuery, ctx: CallContext, opts?: ReadOptions): Promise<ListAnswer> {
  if (listMatchesNothing(q)) return Promise.resolve({ tasks: [], report: new FanoutReport(), cache: "bypass" });
  return reader.list(q, ctx, opts);
}

/** `dai-consistency: strict`: any failed Executor turns the answer into UNAVAILABLE. */
export function enforceStrict(strict: boolean, report: FanoutReport): void {
  if (!strict || !report.partial) return;
  const names = report.failed.map((f) => `${f.address} (${f.reason})`).join(", ");
  throw new GatewayError(
    Status.UNAVAILABLE,
    `strict consistency: ${report.failed.length} Executor(s) failed: ${names}`,
    report,
  );
}

/**
 * Throws UNAVAILABLE when a ListTask answer rests on no Executor at all, and
 * RESOURCE_EXHAUSTED when it holds more than `maxListTasks` tasks (a bound on the
 * gateway's reply, not on what a client may ask).
 */
export function checkListAnswer(q: ListQuery, answer: ListAnswer, strict: boolean, maxListTasks: number): void {
  const { report } = answer;
  if (listMatchesNothing(q)) return;
  if (answer.tasks.length > maxListTasks) {
    throw new GatewayError(
      Status.RESOURCE_EXHAUSTED,
      `the answer holds ${answer.tasks.length} tasks, more than api.maxListTasks (${maxListTasks}): ask with a limit or a narrower time window`,
      report,
    );
  }
  if (report.asked.length === 0 && answer.cache !== "hit" && answer.cache !== "stale") {
    throw new GatewayError(
      Status.UNAVAILABLE,
      q.pubKey.length === 0
        ? "no Executor to ask: the cluster-wide view needs Executors whose public key is known (executors.seeds[].pubKey, or list by a key first)"
        : "no Executor known (executors.seeds)",
      report,
    );
  }
  // A stale cached answer is served when no Executor answers (cache.maxStaleMs).
  if (report.asked.length > 0 && report.answered.length === 0 && answer.cache !== "stale") {
    throw new GatewayError(report.noAnswerStatus, `no Executor answered (${report.failed.length} failed)`, report);
  }
  enforceStrict(strict, report);
}

/** The task of a GetTaskById answer, or NOT_FOUND / UNAVAILABLE as the API reports them. */
export function requireGetAnswer(taskID: string, answer: GetAnswer, strict: boolean): TaskView {
  const { report } = answer;
  enforceStrict(strict, report);
  if (answer.task) return answer.task;
  if (report.answered.length === 0) {
    throw new GatewayError(
      report.noAnswerStatus,
      report.asked.length === 0
        ? "no Executor known (executors.seeds)"
        : `no Executor answered (${report.failed.length} failed)`,
      report,
    );
  }
  throw new GatewayError(
    Status.NOT_FOUND,
    `task ${taskID} not found on any of ${report.answered.length} Executor(s) that answered`,
    report,
  );
}
