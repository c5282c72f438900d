/**
 * What the gateway accepts from a client: everything a v2.x Executor accepts (spec §4,
 * §5), read the way an Executor reads it. The gateway refuses only on bounds of its
 * own work (RESOURCE_EXHAUSTED naming the config key), never with validation stricter
 * than an Executor's. Errors name the field or the key.
 */
import { status as Status } from "@grpc/grpc-js";
import { GatewayError } from "../core/errors";
import type { GetTaskRequest, ListTaskRequest } from "../gen/task/task";
import type { ListQuery } from "../merge/filter";
import { MAX_STATUS_CHARS } from "../merge/sanity";
import { KEY_BYTES, MAX_TASK_ID_CHARS } from "../wire/facts";

export { MAX_TASK_ID_CHARS };

/** Validation errors are GatewayErrors (src/core/errors.ts); the old name stays for callers. */
export { GatewayError as ApiError };

/**
 * The query a ListTask request asks, as a v2.x Executor reads it: `timeEnd <= 0` is no
 * upper bound and `limit <= 0` no cap (both normalised to 0), any key and status are
 * accepted (see `listMatchesNothing`).
 */
export function validateListRequest(req: ListTaskRequest): ListQuery {
  return {
    pubKey: Buffer.from(req.pubKey),
    status: req.status,
    timeStart: req.timeStart,
    timeEnd: req.timeEnd > 0n ? req.timeEnd : 0n,
    limit: req.limit > 0n ? req.limit : 0n,
  };
}

/**
 * True when no task can match, so no Executor needs asking: a key that is neither empty
 * (the cluster-wide view) nor 64 bytes equals no requester or executor key (an Executor
 * answers an empty list for it), and a status longer than any status a kept task has.
 */
export function listMatchesNothing(q: ListQuery): boolean {
  return (
    (q.pubKey.length !== 0 && q.pubKey.length !== KEY_BYTES) ||
    // v3's executor key next to a requester key: a v3 Executor matches a shorter one as a hex
    // prefix of executor keys (README "Two generations"); the gateway reads any other length as no key.
    (q.ePubKey !== undefined && q.ePubKey.length !== 0 && q.ePubKey.length !== KEY_BYTES) ||
    q.status.length > MAX_STATUS_CHARS
  );
}

/**
 * The task ID of a GetTaskById request. An empty ID is not found on an Executor (no
 * separate validation error, spec §5); neither is one longer than any ID the gateway
 * keeps (src/merge/sanity.ts), so neither is worth a fan-out.
 */
export function validateTaskId(taskID: string): string {
  if (taskID === "") throw new GatewayError(Status.NOT_FOUND, "task not found: taskID is empty");
  if (taskID.length > MAX_TASK_ID_CHARS) {
    throw new GatewayError(
      Status.NOT_FOUND,
      `task not found: no task ID is longer than ${MAX_TASK_ID_CHARS} characters`,
    );
  }
  return taskID;
}

export function validateGetRequest(req: GetTaskRequest): string {
  return validateTaskId(req.taskID);
}
