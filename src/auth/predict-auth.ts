/**
 * The gateway's own checks on GetPredictResult, made before any Executor is asked
 * for a result. An Executor checks the requester itself (spec §6); these checks keep
 * the gateway from being a way around that and from wasting Executors' work on
 * requests that cannot succeed. Order and statuses are fixed (README, "Prediction").
 */
import { status as Status } from "@grpc/grpc-js";
import { GatewayError } from "../core/errors";
import { KEY_BYTES, publicKeyFromRaw, SIGNATURE_BYTES } from "../crypto/p256";
import { RULE_TEXT, verifyingRules, type SignatureRule } from "../generations/signature";
import type { TaskRequest } from "../gen/task/task";
import { MAX_TASK_ID_CHARS } from "../wire/facts";
import type { TaskView } from "../wire/task-view";

export const PREDICT_TASK_TYPE = 1;
export { MAX_TASK_ID_CHARS };

/** Why a prediction request was refused; also the label of the refusal counters. */
export type RefusalReason =
  | "bad_task_id"
  | "bad_pub_key"
  | "bad_signature"
  | "rate_limited"
  | "task_not_found"
  | "task_unavailable"
  | "not_predict_task"
  | "not_requester"
  | "not_finished"
  | "no_route"
  | "result_not_found"
  | "owner_unavailable"
  | "too_large"
  | "upstream_error"
  | "too_many_in_flight"
  | "wrong_signature_rule";

/** A refusal with the status the client gets. Messages never carry keys or signatures. */
export class PredictRefusal extends GatewayError {
  constructor(
    code: Status,
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(code, message);
  }
}

export interface CheckedRequest {
  taskID: string;
  pubKey: Buffer;
  /** The signature rules the signature is valid under (src/generations/signature.ts): v2's, v3's, rarely both. */
  rules: SignatureRule[];
}

/**
 * Checks 1-3, which need no task: taskID present, pubKey a P-256 point, signature by
 * pubKey under v2's rule (SHA-256 of hex(pubKey) + "," + taskID) or v3's (spec §10).
 */
export function checkPredictRequest(req: TaskRequest): CheckedRequest {
  // As on an Executor, whose first check is that the task exists (spec §6): no such ID, NOT_FOUND.
  if (req.taskID === "") {
    throw new PredictRefusal(Status.NOT_FOUND, "bad_task_id", "task not found: taskID is empty");
  }
  if (req.taskID.length > MAX_TASK_ID_CHARS) {
    throw new PredictRefusal(
      Status.NOT_FOUND,
      "bad_task_id",
      `task not found: no task ID is longer than ${MAX_TASK_ID_CHARS} characters`,
    );
  }
  const pubKey = Buffer.from(req.pubKey);
  if (pubKey.length !== KEY_BYTES) {
    throw new PredictRefusal(
      Status.INVALID_ARGUMENT,
      "bad_pub_key",
      `pubKey: expected ${KEY_BYTES} bytes (raw P-256 X||Y), got ${pubKey.length}`,
    );
  }
  if (publicKeyFromRaw(pubKey) === null) {
    throw new PredictRefusal(Status.INVALID_ARGUMENT, "bad_pub_key", "pubKey: not a point on the P-256 curve");
  }
  const signature = Buffer.from(req.signature);
  if (signature.length !== SIGNATURE_BYTES) {
    throw new PredictRefusal(
      Status.UNAUTHENTICATED,
      "bad_signature",
      `signature: expected ${SIGNATURE_BYTES} bytes (r||s), got ${signature.length}`,
    );
  }
  const rules = verifyingRules(pubKey, req.taskID, signature);
  if (rules.length === 0) {
    throw new PredictRefusal(
      Status.UNAUTHENTICATED,
      "bad_signature",
      `signature: not a valid ECDSA P-256 signature by pubKey under either rule: ${RULE_TEXT.v2}, or ${RULE_TEXT.v3}`,
    );
  }
  return { taskID: req.taskID, pubKey, rules };
}

/** Checks 5-7 on the loaded task: a prediction task, of this requester, Finished. */
export function authorizePredictTask(task: TaskView, pubKey: Buffer): void {
  if (task.taskType !== PREDICT_TASK_TYPE) {
    throw new PredictRefusal(
      Status.FAILED_PRECONDITION,
      "not_predict_task",
      `task ${task.id} is not a prediction task (algoParam.taskType is not PREDICT)`,
    );
  }
  if (!task.requester.equals(pubKey)) {
    throw new PredictRefusal(
      Status.PERMISSION_DENIED,
      "not_requester",
      `pubKey is not the requester of task ${task.id}`,
    );
  }
  if (task.status !== "Finished") {
    const why = task.errMessage === "" ? "" : ` (errMessage: ${task.errMessage.slice(0, 300)})`;
    throw new PredictRefusal(
      Status.FAILED_PRECONDITION,
      "not_finished",
      `task ${task.id} has status ${task.status || "(none)"}, not Finished: there is no result to fetch${why}`,
    );
  }
}
