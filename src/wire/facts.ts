/**
 * Facts of the Task API wire contract (spec §1, §2), defined once: key size, task-ID
 * bound, method paths, and the identity codec the gateway uses wherever bytes pass
 * through untouched.
 */

/** A public key: raw P-256 X||Y (spec §2). */
export const KEY_BYTES = 64;
/** A key as tools print it: 128 hex characters. */
export const KEY_HEX = /^[0-9a-fA-F]{128}$/;
/** Task IDs are UUIDs (36 chars); the gateway allows some slack for other generators. */
export const MAX_TASK_ID_CHARS = 128;

export const SERVICE_NAME = "task.Task";

/** The Task service's unary methods, by the name the code uses. */
export const METHOD_PATHS = {
  listTask: "/task.Task/ListTask",
  getTaskById: "/task.Task/GetTaskById",
  getPredictResult: "/task.Task/GetPredictResult",
  startTask: "/task.Task/StartTask",
} as const;

export type TaskMethod = keyof typeof METHOD_PATHS;
/** What the gateway itself calls on Executors. */
export type UpstreamMethod = Exclude<TaskMethod, "startTask">;

/** `listTask` -> `ListTask`: the name clients and the metrics use. */
export function methodName(m: TaskMethod): string {
  return METHOD_PATHS[m].slice(`/${SERVICE_NAME}/`.length);
}

/** Bytes in, the same bytes out: requests and replies relayed or assembled as bytes. */
export const identity = (b: Buffer): Buffer => b;
