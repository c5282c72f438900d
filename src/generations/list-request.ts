/**
 * ListTaskRequest in both wire generations (spec §10), and how the gateway tells them apart.
 *
 *   v2: pubKey 1 (bytes) · status 2 (string) · timeStart 3 · timeEnd 4 · limit 5 (int64)
 *   v3: pubKey 1 (bytes, requester) · ePubKey 2 (bytes, executor) · status 3 (string) ·
 *       timeStart 4 · timeEnd 5 · limit 6 (int64)
 *
 * Field 2 is length-delimited and fields 4–5 are varints in both, so some messages are
 * valid in both layouts with different meanings. The detection rule therefore only
 * uses *evidence*: something one generation's encoder emits and the other's never does.
 *
 * - v3 evidence: field 6 as a varint (v2 has no field 6); field 3 length-delimited (v2's
 *   field 3 is a varint); field 2 whose bytes are not valid UTF-8 (v2's field 2 is a
 *   proto3 string: Go refuses to encode or decode one that is not UTF-8; a raw 64-byte
 *   key almost never is).
 * - v2 evidence: field 3 as a varint (v3's field 3 is a string).
 *
 * A request with evidence of one generation only is read in that generation; with
 * evidence of both it is refused (INVALID_ARGUMENT, naming the fields); with none it is
 * read in the listener's generation (`api.generation` for `listen`, v3 for `v3.listen`).
 * Since no encoder of generation G ever emits evidence of the other one, a request of
 * the listener's own generation is never misread; a request of the other generation is
 * read right whenever it carries evidence (the v3 `executor-cli` always sends `limit`
 * and an executor key, so its requests do). The one case left — a v3 request with no
 * status, no limit and no (or a UTF-8) executor key on a v2 listener, or a v2 request
 * with timeStart 0 on a v3 listener — reads in the listener's generation: the reason
 * `v3.listen` exists. Proved over random requests in test/unit/list-request-generations.property.test.ts.
 */
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { ListTaskRequest } from "../gen/task/task";

export type Generation = "v2" | "v3";
export const GENERATIONS: readonly Generation[] = ["v2", "v3"];

/** A ListTaskRequest's fields, whatever the layout. v2 has no `ePubKey` (always empty). */
export interface ListRequestFields {
  pubKey: Buffer;
  ePubKey: Buffer;
  status: string;
  timeStart: bigint;
  timeEnd: bigint;
  limit: bigint;
}

/** Field numbers of each layout; `ePubKey` is v3 only. */
export const LIST_LAYOUT = {
  v2: { pubKey: 1, status: 2, timeStart: 3, timeEnd: 4, limit: 5 },
  v3: { pubKey: 1, ePubKey: 2, status: 3, timeStart: 4, timeEnd: 5, limit: 6 },
} as const;

export class ListRequestError extends Error {
  override name = "ListRequestError";
}

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function isUtf8(b: Uint8Array): boolean {
  try {
    fatalUtf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

/** What the bytes of one request say about its generation. */
export interface Evidence {
  v2: string[];
  v3: string[];
}

/** Scans a ListTaskRequest's fields for evidence (see the module comment). Throws ListRequestError on malformed bytes. */
export function listRequestEvidence(bytes: Uint8Array): Evidence {
  const ev: Evidence = { v2: [], v3: [] };
  const r = new BinaryReader(bytes);
  try {
    while (r.pos < r.len) {
      const [field, wt] = r.tag();
      if (field === 6 && wt === WireType.Varint) ev.v3.push("field 6 is a varint (v3 limit; v2 has no field 6)");
      else if (field === 3 && wt === WireType.LengthDelimited)
        ev.v3.push("field 3 is length-delimited (v3 status; v2 timeStart is a varint)");
      else if (field === 3 && wt === WireType.Varint)
        ev.v2.push("field 3 is a varint (v2 timeStart; v3 status is a string)");
      else if (field === 2 && wt === WireType.LengthDelimited) {
        if (!isUtf8(r.bytes())) ev.v3.push("field 2 is not UTF-8 (a v3 ePubKey; v2 status is a string)");
        continue;
      }
      r.skip(wt, field);
    }
  } catch (err) {
    throw new ListRequestError(`request is not a valid ListTaskRequest message: ${(err as Error).message}`);
  }
  // One reason per kind is enough for a message.
  ev.v2 = [...new Set(ev.v2)];
  ev.v3 = [...new Set(ev.v3)];
  return ev;
}

export interface Detected {
  generation: Generation;
  /** Why: the evidence, or "listener default" when there was none. */
  basis: "evidence" | "listener default";
}

/** The generation to read a request in, on a listener whose generation is `listener`. */
export function detectListGeneration(bytes: Uint8Array, listener: Generation): Detected {
  const ev = listRequestEvidence(bytes);
  if (ev.v2.length > 0 && ev.v3.length > 0) {
    throw new ListRequestError(
      `ListTaskRequest mixes the v2 and v3 layouts (${[...ev.v2, ...ev.v3].join("; ")}): ` +
        "v2 is pubKey 1, status 2, timeStart 3, timeEnd 4, limit 5; v3 is pubKey 1, ePubKey 2, status 3, timeStart 4, timeEnd 5, limit 6",
    );
  }
  if (ev.v3.length > 0) return { generation: "v3", basis: "evidence" };
  if (ev.v2.length > 0) return { generation: "v2", basis: "evidence" };
  return { generation: listener, basis: "listener default" };
}

function decodeV2(bytes: Uint8Array): ListRequestFields {
  const m = ListTaskRequest.decode(bytes);
  return {
    pubKey: Buffer.from(m.pubKey),
    ePubKey: Buffer.alloc(0),
    status: m.status,
    timeStart: m.timeStart,
    timeEnd: m.timeEnd,
    limit: m.limit,
  };
}

function decodeV3(bytes: Uint8Array): ListRequestFields {
  const out: ListRequestFields = {
    pubKey: Buffer.alloc(0),
    ePubKey: Buffer.alloc(0),
    status: "",
    timeStart: 0n,
    timeEnd: 0n,
    limit: 0n,
  };
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    // A field of the wrong wire type is an unknown field, as in Go's decoder.
    if (field === 1 && wt === WireType.LengthDelimited) out.pubKey = Buffer.from(r.bytes());
    else if (field === 2 && wt === WireType.LengthDelimited) out.ePubKey = Buffer.from(r.bytes());
    else if (field === 3 && wt === WireType.LengthDelimited) out.status = r.string();
    else if (field === 4 && wt === WireType.Varint) out.timeStart = BigInt(r.int64());
    else if (field === 5 && wt === WireType.Varint) out.timeEnd = BigInt(r.int64());
    else if (field === 6 && wt === WireType.Varint) out.limit = BigInt(r.int64());
    else r.skip(wt, field);
  }
  return out;
}

/** Reads a request in the given layout. Throws ListRequestError on malformed bytes. */
export function decodeListRequest(bytes: Uint8Array, generation: Generation): ListRequestFields {
  try {
    return generation === "v2" ? decodeV2(bytes) : decodeV3(bytes);
  } catch (err) {
    throw new ListRequestError(`request is not a valid ListTaskRequest message: ${(err as Error).message}`);
  }
}

/** Detects, then reads: what a listener of generation `listener` serves. */
export function readListRequest(
  bytes: Uint8Array,
  listener: Generation,
): { fields: ListRequestFields; detected: Detected } {
  const detected = detectListGeneration(bytes, listener);
  return { fields: decodeListRequest(bytes, detected.generation), detected };
}

/**
 * Encodes a request in the given layout, proto3 style (zero values left out), fields in
 * number order. v2 cannot carry `ePubKey`: asking for it is a programming error.
 */
export function encodeListRequest(f: ListRequestFields, generation: Generation): Buffer {
  const w = new BinaryWriter();
  const L = LIST_LAYOUT[generation];
  if (f.pubKey.length > 0) w.uint32((L.pubKey << 3) | WireType.LengthDelimited).bytes(f.pubKey);
  if (generation === "v3") {
    if (f.ePubKey.length > 0) w.uint32((LIST_LAYOUT.v3.ePubKey << 3) | WireType.LengthDelimited).bytes(f.ePubKey);
  } else if (f.ePubKey.length > 0) {
    throw new Error("a v2 ListTaskRequest has no ePubKey");
  }
  if (f.status !== "") w.uint32((L.status << 3) | WireType.LengthDelimited).string(f.status);
  if (f.timeStart !== 0n) w.uint32((L.timeStart << 3) | WireType.Varint).int64(f.timeStart);
  if (f.timeEnd !== 0n) w.uint32((L.timeEnd << 3) | WireType.Varint).int64(f.timeEnd);
  if (f.limit !== 0n) w.uint32((L.limit << 3) | WireType.Varint).int64(f.limit);
  return Buffer.from(w.finish());
}
