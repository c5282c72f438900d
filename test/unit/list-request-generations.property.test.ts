/**
 * The ListTaskRequest layout rule of src/generations/list-request.ts, proved over random
 * requests of both generations, encoded by the test's own writer (test/helpers/wire-writer.ts):
 * Go-style (zero values absent) and every-field-written, in random field order.
 *
 *  1. No v2 request ever shows v3 evidence, and no v3 request v2 evidence.
 *  2. On a listener of its own generation, every request is read exactly (never misread).
 *  3. On the other generation's listener, a request is read exactly whenever it carries
 *     evidence, and exactly the requests without evidence fall back to the listener's
 *     generation (the documented default).
 *  4. Encoding in either layout and reading back is lossless.
 */
import fc from "fast-check";
import {
  decodeListRequest,
  detectListGeneration,
  encodeListRequest,
  listRequestEvidence,
  readListRequest,
  ListRequestError,
  type ListRequestFields,
} from "../../src/generations/list-request";
import { listQueryOf, upstreamListRequest } from "../../src/generations/executors";
import { listRequestBytes, writeEntries, type ListFields } from "../helpers/wire-writer";

const RUNS = 400;

const int64 = fc.oneof(
  fc.constant(0n),
  fc.bigInt({ min: 1n, max: 1000n }),
  fc.bigInt({ min: 1_600_000_000_000_000_000n, max: 1_900_000_000_000_000_000n }),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
);

const bytes = (min: number, max: number) =>
  fc.uint8Array({ minLength: min, maxLength: max }).map((b) => Buffer.from(b));
/** Keys as clients send them: none, a raw 64-byte key, an ASCII-only (UTF-8) one, or any length. */
const key = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  bytes(64, 64),
  fc.uint8Array({ minLength: 64, maxLength: 64, max: 0x7f }).map((b) => Buffer.from(b)),
  bytes(1, 80),
);
const status = fc.oneof(
  fc.constant(""),
  fc.constantFrom("Confirming", "Ready", "ToProcess", "Processing", "Finished", "Failed", "Rejected"),
  fc.string({ unit: "binary", maxLength: 20 }).filter((s) => Buffer.from(s, "utf8").toString("utf8") === s),
);

const v2Fields: fc.Arbitrary<ListFields> = fc.record({
  pubKey: key,
  ePubKey: fc.constant(Buffer.alloc(0)),
  status,
  timeStart: int64,
  timeEnd: int64,
  limit: int64,
});
const v3Fields: fc.Arbitrary<ListFields> = fc.record({
  pubKey: key,
  ePubKey: key,
  status,
  timeStart: int64,
  timeEnd: int64,
  limit: int64,
});
const encoding = fc.record({
  omitZero: fc.boolean(),
  order: fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 7, maxLength: 7 }),
});

function isUtf8(b: Buffer): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

const norm = (f: ListRequestFields | ListFields) => ({
  pubKey: f.pubKey.toString("hex"),
  ePubKey: f.ePubKey.toString("hex"),
  status: f.status,
  timeStart: f.timeStart,
  timeEnd: f.timeEnd,
  limit: f.limit,
});

describe("ListTaskRequest generations", () => {
  it("1. a v2 request never carries v3 evidence; a v3 request never v2 evidence", () => {
    fc.assert(
      fc.property(v2Fields, encoding, (f, enc) => {
        expect(listRequestEvidence(listRequestBytes("v2", f, enc)).v3).toEqual([]);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(v3Fields, encoding, (f, enc) => {
        expect(listRequestEvidence(listRequestBytes("v3", f, enc)).v2).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });

  it("2. on its own generation's listener every request is read exactly", () => {
    fc.assert(
      fc.property(v2Fields, encoding, (f, enc) => {
        const r = readListRequest(listRequestBytes("v2", f, enc), "v2");
        expect(r.detected.generation).toBe("v2");
        expect(norm(r.fields)).toEqual(norm(f));
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(v3Fields, encoding, (f, enc) => {
        const r = readListRequest(listRequestBytes("v3", f, enc), "v3");
        expect(r.detected.generation).toBe("v3");
        expect(norm(r.fields)).toEqual(norm(f));
      }),
      { numRuns: RUNS },
    );
  });

  it("3. on the other listener: read exactly when the request carries evidence, else the listener's default", () => {
    fc.assert(
      fc.property(v3Fields, encoding, (f, enc) => {
        const b = listRequestBytes("v3", f, enc);
        // Evidence of v3, in its own terms: a written status (field 3) or limit (field 6), or a non-UTF-8 executor key.
        const evident =
          !enc.omitZero || f.status !== "" || f.limit !== 0n || (f.ePubKey.length > 0 && !isUtf8(f.ePubKey));
        const r = readListRequest(b, "v2");
        if (evident) {
          expect(r.detected).toEqual({ generation: "v3", basis: "evidence" });
          expect(norm(r.fields)).toEqual(norm(f));
        } else {
          expect(r.detected).toEqual({ generation: "v2", basis: "listener default" });
        }
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(v2Fields, encoding, (f, enc) => {
        const b = listRequestBytes("v2", f, enc);
        const evident = !enc.omitZero || f.timeStart !== 0n;
        const r = readListRequest(b, "v3");
        if (evident) {
          expect(r.detected).toEqual({ generation: "v2", basis: "evidence" });
          expect(norm(r.fields)).toEqual(norm(f));
        } else {
          expect(r.detected).toEqual({ generation: "v3", basis: "listener default" });
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("3b. the v3 executor-cli's requests (an executor key, limit 1..100, timeEnd now) are always recognised", () => {
    fc.assert(
      fc.property(
        fc.record({
          pubKey: fc.oneof(fc.constant(Buffer.alloc(0)), bytes(64, 64)),
          ePubKey: bytes(64, 64),
          status,
          timeStart: fc.oneof(fc.constant(0n), int64),
          timeEnd: fc.bigInt({ min: 1_600_000_000n, max: 1_900_000_000n }).map((s) => s * 1_000_000_000n),
          limit: fc.bigInt({ min: 1n, max: 100n }),
        }),
        (f) => {
          const r = readListRequest(listRequestBytes("v3", f), "v2");
          expect(r.detected.generation).toBe("v3");
          expect(norm(r.fields)).toEqual(norm(f));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("4. encoding in either layout and reading back is lossless; the upstream request says what it was asked", () => {
    fc.assert(
      fc.property(v3Fields, fc.constantFrom("v2" as const, "v3" as const), (f, g) => {
        const fields = g === "v2" ? { ...f, ePubKey: Buffer.alloc(0) } : f;
        expect(norm(decodeListRequest(encodeListRequest(fields, g), g))).toEqual(norm(fields));
        // Our encoder writes what a client of that generation writes (Go style).
        expect(encodeListRequest(fields, g).equals(listRequestBytes(g, fields))).toBe(true);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(v3Fields, fc.constantFrom("v2" as const, "v3" as const), (f, g) => {
        const q = listQueryOf(f);
        const { sent, bytes: b } = upstreamListRequest(g, q);
        const back = decodeListRequest(b, g);
        expect(norm(back)).toEqual(norm({ ...sent, ePubKey: sent.ePubKey ?? Buffer.alloc(0) }));
        // Only a v2 Executor asked for v3's both-keys filter is widened (uncapped, requester only).
        const widened = g === "v2" && q.ePubKey !== undefined;
        expect(sent.limit).toBe(widened ? 0n : f.limit);
        expect(back.ePubKey.length > 0).toBe(g === "v3" && q.ePubKey !== undefined);
      }),
      { numRuns: RUNS },
    );
  });

  it("v3 key semantics: one key is v2's either-role key, whichever field; both keys are requester AND executor", () => {
    const k1 = Buffer.alloc(64, 1);
    const k2 = Buffer.alloc(64, 2);
    const base = { status: "", timeStart: 0n, timeEnd: 0n, limit: 0n };
    expect(listQueryOf({ ...base, pubKey: k1, ePubKey: Buffer.alloc(0) })).toEqual({ ...base, pubKey: k1 });
    expect(listQueryOf({ ...base, pubKey: Buffer.alloc(0), ePubKey: k2 })).toEqual({ ...base, pubKey: k2 });
    expect(listQueryOf({ ...base, pubKey: k1, ePubKey: k2 })).toEqual({ ...base, pubKey: k1, ePubKey: k2 });
  });

  it("a request mixing both layouts' evidence is refused, naming the fields", () => {
    const b = writeEntries([
      { field: 3, kind: "varint", value: 5n },
      { field: 6, kind: "varint", value: 10n },
    ]);
    expect(() => detectListGeneration(b, "v2")).toThrow(ListRequestError);
    expect(() => detectListGeneration(b, "v2")).toThrow(/field 3 is a varint.*field 6 is a varint/);
  });

  it("malformed bytes are a ListRequestError, not a crash", () => {
    fc.assert(
      fc.property(bytes(0, 40), fc.constantFrom("v2" as const, "v3" as const), (b, g) => {
        try {
          readListRequest(b, g);
        } catch (err) {
          expect(err).toBeInstanceOf(ListRequestError);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
