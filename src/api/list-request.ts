/**
 * How a ListTask request's bytes become the query it asks, on a listener of a given
 * generation: the layout detected (evidence, else the listener's generation,
 * src/generations/list-request.ts), read, v3 keys normalised (src/generations/executors.ts),
 * then validated as any ListTask request.
 */
import { status as Status } from "@grpc/grpc-js";
import { GatewayError } from "../core/errors";
import { listQueryOf } from "../generations/executors";
import { ListRequestError, readListRequest, type Generation } from "../generations/list-request";
import type { ListQuery } from "../merge/filter";
import { validateListRequest } from "./validate";

export function listQueryFromWire(bytes: Buffer, listener: Generation): ListQuery {
  let read;
  try {
    read = readListRequest(bytes, listener);
  } catch (err) {
    if (err instanceof ListRequestError) throw new GatewayError(Status.INVALID_ARGUMENT, err.message);
    throw err;
  }
  return checkedListQuery(listQueryOf(read.fields));
}

/**
 * A generation-neutral query (gRPC of either layout, the v3 HTTP API) read as a v2.x
 * Executor reads its fields (src/api/validate.ts), v3's executor key kept. Keys of the
 * wrong length match nothing (`listMatchesNothing`), as on the v2 side.
 */
export function checkedListQuery(q: ListQuery): ListQuery {
  const checked = validateListRequest(q);
  return q.ePubKey ? { ...checked, ePubKey: q.ePubKey } : checked;
}
