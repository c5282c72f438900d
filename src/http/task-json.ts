/**
 * Protobuf JSON mapping for the HTTP routes. Requests are parsed strictly (unknown
 * field, wrong type or malformed value -> an error naming the field); replies are
 * made from the Executors' raw task bytes with the generated `toJSON` (64-bit values
 * as decimal strings, bytes as base64).
 */
import { status as Status } from "@grpc/grpc-js";
import { FLTask, PredictResponse, type GetTaskRequest, type ListTaskRequest, type TaskRequest } from "../gen/task/task";
import { KEY_HEX } from "../wire/facts";
import type { TaskView } from "../wire/task-view";
import { GatewayError } from "../core/errors";

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

function invalid(message: string): GatewayError {
  return new GatewayError(Status.INVALID_ARGUMENT, message);
}

function onlyFields(body: Record<string, unknown>, allowed: readonly string[], message: string): void {
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) throw invalid(`${k}: unknown field of ${message} (expected ${allowed.join(", ")})`);
  }
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

function str(body: Record<string, unknown>, field: string): string {
  const v = body[field];
  if (!present(v)) return "";
  if (typeof v !== "string") throw invalid(`${field}: expected a string`);
  return v;
}

/** int64 as the protobuf JSON mapping allows: a decimal string or an exact integer number. */
function int64(body: Record<string, unknown>, field: string): bigint {
  const v = body[field];
  if (!present(v)) return 0n;
  let n: bigint;
  if (typeof v === "string" && /^-?[0-9]{1,20}$/.test(v)) n = BigInt(v);
  else if (typeof v === "number" && Number.isSafeInteger(v)) n = BigInt(v);
  else throw invalid(`${field}: expected a 64-bit integer as a decimal string`);
  if (n < INT64_MIN || n > INT64_MAX) throw invalid(`${field}: out of the int64 range`);
  return n;
}

/**
 * bytes as base64 (standard or URL-safe). A key given as 128 hex characters — how
 * PaddleDTX tools print keys — is accepted too: as base64 it would be 96 bytes, never a key.
 */
function bytes(body: Record<string, unknown>, field: string, keyLike: boolean): Buffer {
  const v = body[field];
  if (!present(v)) return Buffer.alloc(0);
  if (typeof v !== "string") throw invalid(`${field}: expected base64 bytes as a string`);
  if (keyLike && KEY_HEX.test(v)) return Buffer.from(v, "hex");
  if (!BASE64.test(v) || v.replace(/=+$/, "").length % 4 === 1) throw invalid(`${field}: not valid base64`);
  return Buffer.from(v, v.includes("-") || v.includes("_") ? "base64url" : "base64");
}

export function parseListBody(body: Record<string, unknown>, defaultTimeEnd: () => bigint): ListTaskRequest {
  onlyFields(body, ["pubKey", "status", "timeStart", "timeEnd", "limit"], "ListTaskRequest");
  return {
    pubKey: bytes(body, "pubKey", true),
    status: str(body, "status"),
    timeStart: int64(body, "timeStart"),
    // As the stock client does: no end given means "up to now".
    timeEnd: present(body.timeEnd) ? int64(body, "timeEnd") : defaultTimeEnd(),
    limit: int64(body, "limit"),
  };
}

export function parseGetBody(body: Record<string, unknown>): GetTaskRequest {
  onlyFields(body, ["taskID"], "GetTaskRequest");
  return { taskID: str(body, "taskID") };
}

export function parsePredictBody(body: Record<string, unknown>): TaskRequest {
  onlyFields(body, ["pubKey", "taskID", "signature"], "TaskRequest");
  return {
    pubKey: bytes(body, "pubKey", true),
    taskID: str(body, "taskID"),
    signature: bytes(body, "signature", false),
  };
}

/** A task in protobuf JSON, decoded from the bytes the Executor sent. */
export function taskJson(task: TaskView): unknown {
  return FLTask.toJSON(FLTask.decode(task.raw));
}

export function predictResponseJson(raw: Buffer): unknown {
  return PredictResponse.toJSON(PredictResponse.decode(raw));
}
