/**
 * The hand-rolled task view decoder (src/wire/task-view.ts) against the generated
 * ts-proto/bufbuild decoder, an independent implementation, on generated tasks.
 */
import fc from "fast-check";
import { FLTask } from "../../src/gen/task/task";
import { compareUtf8 } from "../../src/merge/merge";
import {
  checkTaskStructure,
  decodeTaskChecked,
  decodeTaskList,
  decodeTaskView,
  encodeTaskList,
  WireError,
} from "../../src/wire/task-view";

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

const double = fc.double({ noNaN: true });
const doubles = fc.dictionary(fc.string({ maxLength: 4 }), double, { maxKeys: 3 });
const randomSplit = fc.option(fc.record({ percentLO: fc.integer() }), { nil: undefined });
/** Every nested message of common.TaskParams, filled. */
const fullAlgoParam = fc.record({
  algo: fc.integer({ min: 0, max: 2 }),
  taskType: fc.integer({ min: 0, max: 1 }),
  modelTaskID: text,
  trainParams: fc.record({ label: text, regParam: double, accuracy: int64, BatchSize: int64, isTagPart: fc.boolean() }),
  modelParams: fc.record({ thetas: doubles, xbars: doubles, sigmas: doubles, label: text, path: text }),
  evalParams: fc.record({
    enable: fc.boolean(),
    evalRule: fc.integer({ min: 0, max: 2 }),
    randomSplit,
    cv: fc.option(fc.record({ folds: fc.integer(), shuffle: fc.boolean(), repeatTimes: fc.integer() }), {
      nil: undefined,
    }),
  }),
  livalParams: fc.record({ enable: fc.boolean(), randomSplit }),
});
const fullTask = task.chain((t) => fullAlgoParam.map((algoParam) => ({ ...t, algoParam })));
const encode = (t: Parameters<typeof FLTask.fromPartial>[0]): Buffer =>
  Buffer.from(FLTask.encode(FLTask.fromPartial(t)).finish());

describe("full-structure check", () => {
  test("every well-formed task passes, unknown fields included", () => {
    fc.assert(
      fc.property(fullTask, fc.array(unknownField, { maxLength: 2 }), (t, extra) => {
        const raw = Buffer.concat([encode(t), ...extra]);
        expect(() => checkTaskStructure(raw)).not.toThrow();
        expect(decodeTaskChecked(raw).raw).toBe(raw);
      }),
      { numRuns: 200 },
    );
  });

  test("what it passes, the generated (stock) decoder decodes whole; it fails only with a WireError", () => {
    fc.assert(
      fc.property(fullTask, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (t, at, value, cut) => {
        const raw = encode(t);
        const broken = Buffer.from(raw);
        broken[at % broken.length] = value;
        for (const b of [broken, broken.subarray(0, cut % (broken.length + 1))]) {
          let passed = true;
          try {
            checkTaskStructure(b);
          } catch (err) {
            expect(err).toBeInstanceOf(WireError);
            passed = false;
          }
          if (passed) expect(() => FLTask.decode(b)).not.toThrow();
        }
      }),
      { numRuns: 2000 },
    );
  });

  test("a malformed nested message is named by its path", () => {
    const raw = encode({ iD: "t", algoParam: { trainParams: { label: "y" } } });
    // One more algoParam whose trainParams says 50 bytes and holds 2 (decoders merge the two).
    const truncated = Buffer.concat([raw, Buffer.from([0x32, 0x04, 0x1a, 0x32, 0x0a, 0x01])]);
    expect(() => checkTaskStructure(truncated)).toThrow(
      "malformed FLTask: algoParam: truncated length-delimited field",
    );
    // algoParam.modelParams.thetas[0] holds a tag of wire type 7.
    const badType = Buffer.concat([raw, Buffer.from([0x32, 0x06, 0x2a, 0x04, 0x0a, 0x02, 0x0f, 0x00])]);
    expect(() => checkTaskStructure(badType)).toThrow(/algoParam\.modelParams\.thetas: invalid wire type 7/);
    expect(() => FLTask.decode(badType)).toThrow();
    expect(() => decodeTaskView(badType)).not.toThrow(); // the merge's own decode does not look so deep
  });

  test("a string field that is not valid UTF-8 is malformed (protobuf-go refuses the whole message)", () => {
    const raw = encode({ iD: "t", name: "ok", algoParam: { trainParams: { label: "y" } } });
    // name (field 2) = 0xff: not UTF-8.
    const badName = Buffer.concat([raw, Buffer.from([0x12, 0x01, 0xff])]);
    expect(() => checkTaskStructure(badName)).toThrow("malformed FLTask: name: invalid UTF-8 in a string field");
    // algoParam.trainParams.label (field 1) = a lone continuation byte.
    const badLabel = Buffer.concat([raw, Buffer.from([0x32, 0x05, 0x1a, 0x03, 0x0a, 0x01, 0x80])]);
    expect(() => checkTaskStructure(badLabel)).toThrow(/algoParam\.trainParams\.label: invalid UTF-8/);
    // dataSets[].address, and a map key of modelParams.thetas.
    const badAddress = Buffer.concat([raw, Buffer.from([0x2a, 0x03, 0x3a, 0x01, 0xc3])]);
    expect(() => checkTaskStructure(badAddress)).toThrow(/dataSets\.address: invalid UTF-8/);
    const badKey = Buffer.concat([raw, Buffer.from([0x32, 0x07, 0x2a, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0xfe])]);
    expect(() => checkTaskStructure(badKey)).toThrow(/algoParam\.modelParams\.thetas\.key: invalid UTF-8/);
    // Multi-byte UTF-8 is fine; bytes fields (requester) hold anything.
    const fine = Buffer.concat([raw, Buffer.from([0x12, 0x03, 0xe2, 0x9c, 0x93, 0x22, 0x02, 0xff, 0xfe])]);
    expect(() => checkTaskStructure(fine)).not.toThrow();
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
