/**
 * A tiny protobuf writer written for the tests, independent of src/ and of any codec:
 * clients of either generation are built from it byte by byte (spec §1, §10 layouts).
 */
export type Entry =
  | { field: number; kind: "len"; value: Uint8Array }
  | { field: number; kind: "varint"; value: bigint }
  | { field: number; kind: "fixed64"; value: Buffer };

function varint(n: bigint): number[] {
  let v = BigInt.asUintN(64, n);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

export function writeEntries(entries: readonly Entry[]): Buffer {
  const parts: number[] = [];
  for (const e of entries) {
    const wt = e.kind === "len" ? 2 : e.kind === "varint" ? 0 : 1;
    parts.push(...varint(BigInt((e.field << 3) | wt)));
    if (e.kind === "len") {
      parts.push(...varint(BigInt(e.value.length)), ...e.value);
    } else if (e.kind === "varint") {
      parts.push(...varint(e.value));
    } else parts.push(...e.value);
  }
  return Buffer.from(parts);
}

export interface ListFields {
  pubKey: Buffer;
  ePubKey: Buffer;
  status: string;
  timeStart: bigint;
  timeEnd: bigint;
  limit: bigint;
}

/**
 * A ListTaskRequest as a client of `generation` encodes it. `omitZero`: proto3 as Go
 * writes it (zero values absent); otherwise every field is written, as some encoders do.
 * v2 has no ePubKey.
 */
export function listRequestBytes(
  generation: "v2" | "v3",
  f: ListFields,
  opts: { omitZero?: boolean; order?: number[] } = {},
): Buffer {
  const omit = opts.omitZero ?? true;
  const n =
    generation === "v2"
      ? { pubKey: 1, status: 2, timeStart: 3, timeEnd: 4, limit: 5 }
      : { pubKey: 1, ePubKey: 2, status: 3, timeStart: 4, timeEnd: 5, limit: 6 };
  const entries: Entry[] = [];
  if (!omit || f.pubKey.length > 0) entries.push({ field: n.pubKey, kind: "len", value: f.pubKey });
  if (generation === "v3" && (!omit || f.ePubKey.length > 0)) entries.push({ field: 2, kind: "len", value: f.ePubKey });
  if (!omit || f.status !== "") entries.push({ field: n.status, kind: "len", value: Buffer.from(f.status, "utf8") });
  if (!omit || f.timeStart !== 0n) entries.push({ field: n.timeStart, kind: "varint", value: f.timeStart });
  if (!omit || f.timeEnd !== 0n) entries.push({ field: n.timeEnd, kind: "varint", value: f.timeEnd });
  if (!omit || f.limit !== 0n) entries.push({ field: n.limit, kind: "varint", value: f.limit });
  const order = opts.order;
  if (order) entries.sort((a, b) => (order[a.field] ?? 0) - (order[b.field] ?? 0));
  return writeEntries(entries);
}
