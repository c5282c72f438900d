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
import { KEY_BYTES } from "../wire/facts";
import { validateListRequest } from "./validate";

export function listQueryFromWire(bytes: Buffer, listener: Generation, maxListLimit: number): ListQuery {
  let read;
  try {
    read = readListRequest(bytes, listener);
  } catch (err) {
    if (err instanceof ListRequestError) throw new GatewayError(Status.INVALID_ARGUMENT, err.message);
    throw err;
  }
  return checkedListQuery(listQueryOf(read.fields), maxListLimit);
}

/** Validates a generation-neutral query (gRPC of either layout, the v3 HTTP API). */
export function checkedListQuery(q: ListQuery, maxListLimit: number): ListQuery {
  const checked = validateListRequest(q, maxListLimit);
  if (!q.ePubKey) return checked;
  if (q.ePubKey.length !== KEY_BYTES) {
    throw new GatewayError(
      Status.INVALID_ARGUMENT,
      `ePubKey: expected empty or ${KEY_BYTES} bytes (raw P-256 X||Y), got ${q.ePubKey.length}`,
    );
  }
  return { ...checked, ePubKey: q.ePubKey };
}
