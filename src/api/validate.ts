/** Request validation. Errors name the field and say what was expected. */
import { status as Status } from "@grpc/grpc-js";
import { GatewayError } from "../core/errors";
import type { GetTaskRequest, ListTaskRequest } from "../gen/task/task";
import type { ListQuery } from "../merge/filter";
import { KEY_BYTES, MAX_TASK_ID_CHARS } from "../wire/facts";

export { MAX_TASK_ID_CHARS };

/** Validation errors are GatewayErrors (src/core/errors.ts); the old name stays for callers. */
export { GatewayError as ApiError };

const MAX_STATUS_CHARS = 64;

function invalid(message: string): GatewayError {
  return new GatewayError(Status.INVALID_ARGUMENT, message);
}

export function validateListRequest(req: ListTaskRequest, maxListLimit: number): ListQuery {
  if (req.pubKey.length !== 0 && req.pubKey.length !== KEY_BYTES) {
    throw invalid(`pubKey: expected empty or ${KEY_BYTES} bytes (raw P-256 X||Y), got ${req.pubKey.length}`);
  }
  if (req.limit < 0n) throw invalid(`limit: must be >= 0, got ${req.limit}`);
  if (req.limit > BigInt(maxListLimit))
    throw invalid(`limit: must be <= ${maxListLimit} (api.maxListLimit), got ${req.limit}`);
  if (req.status.length > MAX_STATUS_CHARS) throw invalid(`status: longer than ${MAX_STATUS_CHARS} characters`);
  return {
    pubKey: Buffer.from(req.pubKey),
    status: req.status,
    timeStart: req.timeStart,
    timeEnd: req.timeEnd,
    limit: req.limit,
  };
}

export function validateTaskId(taskID: string, field = "taskID"): string {
  if (taskID === "") throw invalid(`${field}: must not be empty`);
  if (taskID.length > MAX_TASK_ID_CHARS) throw invalid(`${field}: longer than ${MAX_TASK_ID_CHARS} characters`);
  return taskID;
}

export function validateGetRequest(req: GetTaskRequest): string {
  return validateTaskId(req.taskID);
}
