/**
 * The hand-rolled task view decoder (src/wire/task-view.ts) against the generated
 * ts-proto/bufbuild decoder, an independent implementation, on generated tasks.
 */
import fc from "fast-check";
import { FLTask } from "../../src/gen/task/task";
import { compareUtf8 } from "../../src/merge/merge";
import { decodeTaskList, decodeTaskView, encodeTaskList, WireError } from "../../src/wire/task-view";

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const text = fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.constantFrom("\uFEFFbom", "τ-1", "😀", ""));
const bytes = fc.uint8Array({ maxLength: 70 }).map((b) => Buffer.from(b));

const dataSet = fc.record({
  owner: bytes,
  executor: bytes,
  dataID: text,
  PSILabel: text,
  confirmedAt: int64,
  rejectedAt: int64,
  address: text,
  isTagPart: fc.boolean(),
});

const task = fc.record({
  iD: text,
  name: text,
  description: text,
  requester: bytes,
  dataSets: fc.array(dataSet, { maxLength: 4 }),
  algoParam: fc.option(
    fc.record({ taskType: fc.integer({ min: -5, max: 5 }), modelTaskID: text, algo: fc.integer({ min: 0, max: 1 }) }),
    { nil: undefined },
  ),
  status: text,
  errMessage: text,
  result: text,
  publishTime: int64,
  startTime: int64,
  endTime: int64,
});

/** An unknown field a newer Executor might add: field 99, any wire type but groups. */
const unknownField = fc.oneof(
  fc.constant(Buffer.from([0x98, 0x06, 0x96, 0x01])), // varint 150
  fc.constant(Buffer.from([0x99, 0x06, 1, 2, 3, 4, 5, 6, 7, 8])), // fixed64
  fc.constant(Buffer.from([0x9d, 0x06, 1, 2, 3, 4])), // fixed32
  bytes.map((b) => Buffer.concat([Buffer.from([0x9a, 0x06, b.length]), b])), // length-delimited
);

describe("task view decoder", () => {
  test("decodes what the generated decoder decodes, with unknown fields appended", () => {
    fc.assert(
      fc.property(task, fc.array(unknownField, { maxLength: 2 }), (t, extra) => {
        const raw = Buffer.concat([Buffer.from(FLTask.encode(FLTask.fromPartial(t)).finish()), ...extra]);
        const ref = FLTask.decode(raw);
        const view = decodeTaskView(raw);
        expect(view.raw).toBe(raw);
        expect(view.id).toBe(ref.iD);
        expect(view.status).toBe(ref.status);
        expect(view.errMessage).toBe(ref.errMessage);
        expect(view.requester.equals(ref.requester)).toBe(true);
        expect([view.publishTime, view.startTime, view.endTime]).toEqual([ref.publishTime, ref.startTime, ref.endTime]);
        expect(view.taskType).toBe(ref.algoParam?.taskType ?? 0);
        expect(view.modelTaskID).toBe(ref.algoParam?.modelTaskID ?? "");
        expect(view.dataSets.length).toBe(ref.dataSets.length);
        view.dataSets.forEach((ds, i) => {
          const r = ref.dataSets[i]!;
          expect(ds.executor.equals(r.executor)).toBe(true);
          expect([ds.address, ds.isTagPart, ds.confirmedAt, ds.rejectedAt]).toEqual([
            r.address,
            r.isTagPart,
            r.confirmedAt,
            r.rejectedAt,
          ]);
        });
      }),
      { numRuns: 300 },
    );
  });

  test("a task list splits into the tasks' exact bytes", () => {
    fc.assert(
      fc.property(fc.array(task, { maxLength: 5 }), (ts) => {
        const raws = ts.map((t) => Buffer.from(FLTask.encode(FLTask.fromPartial(t)).finish()));
        const list = encodeTaskList(raws.map((raw) => ({ raw })));
        const views = decodeTaskList(list);
        expect(views.map((v) => v.raw.toString("hex"))).toEqual(raws.map((r) => r.toString("hex")));
        expect(views.map((v) => v.id)).toEqual(
          ts.map((t) => FLTask.decode(FLTask.encode(FLTask.fromPartial(t)).finish()).iD),
        );
      }),
      { numRuns: 100 },
    );
  });

  test("truncated or corrupted bytes fail with a WireError, never another error", () => {
    fc.assert(
      fc.property(task, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), (t, cut, at, value) => {
        const raw = Buffer.from(FLTask.encode(FLTask.fromPartial(t)).finish());
        const broken = Buffer.from(raw.subarray(0, raw.length === 0 ? 0 : cut % raw.length));
        if (broken.length > 0) broken[at % broken.length] = value;
        for (const decode of [() => decodeTaskView(broken), () => decodeTaskList(broken)]) {
          try {
            decode();
          } catch (err) {
            expect(err).toBeInstanceOf(WireError);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  test("a field cut short is reported as malformed", () => {
    const raw = Buffer.from(FLTask.encode(FLTask.fromPartial({ iD: "abcdef" })).finish());
    expect(() => decodeTaskView(raw.subarray(0, raw.length - 2))).toThrow(/malformed FLTask: truncated/);
    expect(() => decodeTaskView(Buffer.from([0x07]))).toThrow(WireError); // field 0
    expect(() => decodeTaskView(Buffer.from([0x0e]))).toThrow(/invalid wire type/);
  });
});

describe("compareUtf8", () => {
  test("orders strings as their UTF-8 bytes", () => {
    const s = fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" }), fc.string());
    fc.assert(
      fc.property(s, s, (a, b) => {
        expect(Math.sign(compareUtf8(a, b))).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
      { numRuns: 2000 },
    );
    // Where UTF-16 order and UTF-8 order disagree: U+FF5E (one unit) vs U+1F600 (a surrogate pair).
    expect(Math.sign(compareUtf8("\uFF5E", "😀"))).toBe(-1);
    expect("\uFF5E" > "😀").toBe(true);
  });
});
