/** Request bodies the integration tests send often, encoded once here. */
import { ListTaskRequest } from "../../src/gen/task/task";

/** ListTask over the whole time window (any status), as raw request bytes. */
export function listAllBody(pubKey: Buffer, limit = 0n): Buffer {
  return Buffer.from(ListTaskRequest.encode({ pubKey, status: "", timeStart: 0n, timeEnd: 2n ** 62n, limit }).finish());
}
