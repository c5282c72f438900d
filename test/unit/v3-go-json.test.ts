/**
 * The v3 HTTP rendering (src/v3http) against JSON written by hand here from spec §10's
 * rules and Go's encoding/json (struct field order and json tags of the v3 .pb.go files,
 * omitempty, int64/enums as numbers, bytes base64, map keys sorted, HTML-safe escaping,
 * float64 as strconv 'f'/'e' with the 1e-6/1e21 cut-overs). The task bytes come from the
 * test's own writer, never from the gateway's codec.
 */
import { goJsonFloat, goJsonString, GoJsonUnsupportedValue } from "../../src/v3http/go-json";
import { FLTaskSpec, renderMessage, renderTaskList } from "../../src/v3http/render";
import { writeEntries, type Entry } from "../helpers/wire-writer";

const len = (field: number, value: Uint8Array | string): Entry => ({
  field,
  kind: "len",
  value: typeof value === "string" ? Buffer.from(value, "utf8") : value,
});
const vint = (field: number, value: bigint): Entry => ({ field, kind: "varint", value });
const dbl = (field: number, value: number): Entry => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(value);
  return { field, kind: "fixed64", value: b };
};
const msg = (field: number, entries: Entry[]): Entry => len(field, writeEntries(entries));

describe("Go encoding/json rules", () => {
  it("float64: shortest digits, positional between 1e-6 and 1e21, exponent outside, -0 signed", () => {
    const cases: [number, string][] = [
      [0.1, "0.1"],
      [1, "1"],
      [-2.5, "-2.5"],
      [1e20, "100000000000000000000"],
      [1e21, "1e+21"],
      [123456789012345680000, "123456789012345680000"],
      [1.5e300, "1.5e+300"],
      [0.000001, "0.000001"],
      [1e-7, "1e-7"],
      [1.25e-10, "1.25e-10"],
      [5e-324, "5e-324"],
      [-0, "-0"],
      [0.30000000000000004, "0.30000000000000004"],
    ];
    for (const [f, s] of cases) expect(goJsonFloat(f)).toBe(s);
    expect(() => goJsonFloat(NaN)).toThrow(GoJsonUnsupportedValue);
    expect(() => goJsonFloat(-Infinity)).toThrow(GoJsonUnsupportedValue);
  });

  it("strings: HTML-safe escapes, short escapes only for \\n \\r \\t, U+2028/9 escaped, bad UTF-8 as \\ufffd", () => {
    expect(goJsonString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(goJsonString("<a href='x'>&</a>")).toBe("\"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\"");
    expect(goJsonString("l1\nl2\r\t\b\f\u0001\u001f\u007f")).toBe('"l1\\nl2\\r\\t\\u0008\\u000c\\u0001\\u001f\u007f"');
    expect(goJsonString("日本\u2028x\u2029")).toBe('"日本\\u2028x\\u2029"');
    expect(goJsonString("😀 é")).toBe('"😀 é"');
    // A real U+FFFD stays itself; invalid bytes become the escape, one per byte.
    expect(goJsonString(Buffer.from([0x61, 0xff, 0xef, 0xbf, 0xbd, 0xc3, 0x28, 0xed, 0xa0, 0x80]))).toBe(
      '"a\\ufffd\uFFFD\\ufffd(\\ufffd\\ufffd\\ufffd"',
    );
  });
});

describe("FLTask rendering (v3 names, struct order, omitempty)", () => {
  const requester = Buffer.from(Array.from({ length: 64 }, (_, i) => i));
  const executor = Buffer.alloc(64, 0xfe);

  it("a full task", () => {
    const bytes = writeEntries([
      // Out of order on the wire: JSON follows the struct, not the wire.
      vint(10, 1_650_000_000_123_456_789n),
      len(1, "7c0e5f2e-uuid"),
      len(2, "name <b>"),
      len(4, requester),
      msg(5, [
        len(1, Buffer.from([1, 2, 3])),
        len(2, executor),
        len(3, "data-1"),
        len(4, "id"),
        vint(5, 1_650_000_001_000_000_000n),
        len(7, "10.0.0.1:8184"),
        vint(8, 1n),
      ]),
      msg(5, []),
      msg(6, [
        vint(1, 1n),
        vint(2, 1n),
        msg(3, [len(1, "y"), vint(3, 2n), dbl(4, 0.1), dbl(5, 1e21), dbl(6, -0), vint(7, -5n), vint(10, 4n)]),
        len(4, "model-task"),
        msg(5, [
          msg(1, [len(1, "b"), dbl(2, 2.5)]),
          msg(1, [len(1, "a"), dbl(2, -0)]),
          msg(1, [len(1, "B"), dbl(2, 1e-7)]),
          msg(1, [len(1, "a"), dbl(2, 3)]),
          msg(1, [dbl(2, 7)]),
          len(7, "/models/x"),
        ]),
        msg(6, [vint(1, 1n), vint(2, 1n), msg(4, [vint(1, 10n), vint(2, 1n)])]),
        msg(7, []),
      ]),
      len(7, "Failed"),
      len(8, 'bad "x"\n'),
      vint(11, 0n),
      vint(12, 1_650_000_009_000_000_000n),
      // Unknown field (a newer Executor's): not in the struct, not in the JSON.
      len(99, "unknown"),
      // Repeated scalar: the last one wins.
      len(2, "name2 & co"),
    ]);
    const expected =
      "{" +
      '"taskID":"7c0e5f2e-uuid",' +
      '"name":"name2 \\u0026 co",' +
      `"requester":"${requester.toString("base64")}",` +
      '"dataSets":[{"owner":"AQID",' +
      `"executor":"${executor.toString("base64")}",` +
      '"dataID":"data-1","psiLabel":"id","confirmedAt":1650000001000000000,"address":"10.0.0.1:8184","isTagPart":true},{}],' +
      '"algoParam":{"algo":1,"taskType":1,' +
      '"trainParams":{"label":"y","regMode":2,"regParam":0.1,"alpha":1e+21,"accuracy":-5,"batchSize":4},' +
      '"modelTaskID":"model-task",' +
      '"modelParams":{"thetas":{"":7,"B":1e-7,"a":3,"b":2.5},"path":"/models/x"},' +
      '"evalParams":{"enable":true,"evalRule":1,"cv":{"folds":10,"shuffle":true}},' +
      '"livalParams":{}},' +
      '"status":"Failed",' +
      '"errMessage":"bad \\"x\\"\\n",' +
      '"publishTime":1650000000123456789,' +
      '"endTime":1650000009000000000' +
      "}";
    expect(renderMessage(FLTaskSpec, bytes)).toBe(expected);
  });

  it("an empty task is {}, an empty list is {}, a list is fLTasks", () => {
    expect(renderMessage(FLTaskSpec, Buffer.alloc(0))).toBe("{}");
    expect(renderTaskList([])).toBe("{}");
    const t = writeEntries([len(1, "t1"), len(7, "Ready")]);
    expect(renderTaskList([{ raw: t }, { raw: t }])).toBe(
      '{"fLTasks":[{"taskID":"t1","status":"Ready"},{"taskID":"t1","status":"Ready"}]}',
    );
  });

  it("a message given twice is merged; a map value -0 is kept; a NaN fails the whole answer", () => {
    const bytes = writeEntries([
      msg(6, [vint(1, 2n)]),
      msg(6, [len(4, "m")]),
      msg(6, [msg(5, [msg(2, [len(1, "z"), dbl(2, -0)])])]),
    ]);
    expect(renderMessage(FLTaskSpec, bytes)).toBe(
      '{"algoParam":{"algo":2,"modelTaskID":"m","modelParams":{"xbars":{"z":-0}}}}',
    );
    const nan = writeEntries([msg(6, [msg(3, [dbl(4, NaN)])])]);
    expect(() => renderMessage(FLTaskSpec, nan)).toThrow(GoJsonUnsupportedValue);
  });

  it("a field of the wrong wire type is skipped like an unknown field; enums and int32 are signed 32-bit", () => {
    const bytes = writeEntries([
      vint(1, 5n), // taskID is a string: a varint 1 is unknown
      msg(6, [vint(1, -1n), msg(6, [msg(3, [vint(1, 4294967396n)])])]),
    ]);
    expect(renderMessage(FLTaskSpec, bytes)).toBe(
      '{"algoParam":{"algo":-1,"evalParams":{"randomSplit":{"percentLO":100}}}}',
    );
  });
});
