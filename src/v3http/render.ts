/**
 * The JSON PaddleDTX v3's HTTP server (grpc-gateway v1.16 + its own `httpSuccHandler`)
 * writes for a Task API answer: Go's `json.Marshal` of the protoc-gen-go structs of the
 * v3 `task.proto`/`common.proto` (spec §10). Rendered from the Executors' task bytes,
 * decoded here in full for rendering only (the gRPC relay never re-encodes a task).
 *
 * Decoding follows Go's protobuf runtime: fields in any order, the last value of a
 * scalar wins, repeated occurrences of a message merge, repeated fields append, a map
 * entry replaces an earlier one with the same key, a field of an unexpected wire type
 * and any unknown field are skipped (the structs have no JSON for them).
 * Each struct renders its fields in declaration order (= field number order in the v3
 * .pb.go files), `omitempty` on every field: zero scalars, empty bytes, empty lists and
 * maps and absent messages are left out; a present but empty message is `{}`.
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { goJsonBytes, goJsonFloat, goJsonFloatMap, goJsonObject, goJsonString } from "./go-json";

type Kind = "string" | "bytes" | "int64" | "int32" | "enum" | "bool" | "double" | "message" | "repeated" | "map";

interface FieldSpec {
  num: number;
  /** The Go struct's json tag name. */
  name: string;
  kind: Kind;
  msg?: MessageSpec;
}

interface MessageSpec {
  name: string;
  fields: FieldSpec[];
}

const f = (num: number, name: string, kind: Kind, msg?: MessageSpec): FieldSpec => ({ num, name, kind, msg });

const RandomSplit: MessageSpec = { name: "common.RandomSplit", fields: [f(1, "percentLO", "int32")] };
const CrossVal: MessageSpec = {
  name: "common.CrossVal",
  fields: [f(1, "folds", "int32"), f(2, "shuffle", "bool"), f(3, "repeated", "bool"), f(4, "repeatTimes", "int32")],
};
const EvaluationParams: MessageSpec = {
  name: "common.EvaluationParams",
  fields: [
    f(1, "enable", "bool"),
    f(2, "evalRule", "enum"),
    f(3, "randomSplit", "message", RandomSplit),
    f(4, "cv", "message", CrossVal),
  ],
};
const LiveEvaluationParams: MessageSpec = {
  name: "common.LiveEvaluationParams",
  fields: [f(1, "enable", "bool"), f(2, "randomSplit", "message", RandomSplit)],
};
const TrainParams: MessageSpec = {
  name: "common.TrainParams",
  fields: [
    f(1, "label", "string"),
    f(2, "labelName", "string"),
    f(3, "regMode", "enum"),
    f(4, "regParam", "double"),
    f(5, "alpha", "double"),
    f(6, "amplitude", "double"),
    f(7, "accuracy", "int64"),
    f(8, "isTagPart", "bool"),
    f(9, "idName", "string"),
    f(10, "batchSize", "int64"),
  ],
};
const TrainModels: MessageSpec = {
  name: "common.TrainModels",
  fields: [
    f(1, "thetas", "map"),
    f(2, "xbars", "map"),
    f(3, "sigmas", "map"),
    f(4, "label", "string"),
    f(5, "isTagPart", "bool"),
    f(6, "idName", "string"),
    f(7, "path", "string"),
  ],
};
const TaskParams: MessageSpec = {
  name: "common.TaskParams",
  fields: [
    f(1, "algo", "enum"),
    f(2, "taskType", "enum"),
    f(3, "trainParams", "message", TrainParams),
    f(4, "modelTaskID", "string"),
    f(5, "modelParams", "message", TrainModels),
    f(6, "evalParams", "message", EvaluationParams),
    f(7, "livalParams", "message", LiveEvaluationParams),
  ],
};
const DataForTask: MessageSpec = {
  name: "task.DataForTask",
  fields: [
    f(1, "owner", "bytes"),
    f(2, "executor", "bytes"),
    f(3, "dataID", "string"),
    f(4, "psiLabel", "string"),
    f(5, "confirmedAt", "int64"),
    f(6, "rejectedAt", "int64"),
    f(7, "address", "string"),
    f(8, "isTagPart", "bool"),
  ],
};
export const FLTaskSpec: MessageSpec = {
  name: "task.FLTask",
  fields: [
    f(1, "taskID", "string"),
    f(2, "name", "string"),
    f(3, "description", "string"),
    f(4, "requester", "bytes"),
    f(5, "dataSets", "repeated", DataForTask),
    f(6, "algoParam", "message", TaskParams),
    f(7, "status", "string"),
    f(8, "errMessage", "string"),
    f(9, "result", "string"),
    f(10, "publishTime", "int64"),
    f(11, "startTime", "int64"),
    f(12, "endTime", "int64"),
  ],
};
export const PredictResponseSpec: MessageSpec = {
  name: "task.PredictResponse",
  fields: [f(1, "taskID", "string"), f(2, "payload", "bytes")],
};

type Value = Uint8Array | bigint | number | boolean | Decoded | Decoded[] | Map<string, { key: Buffer; value: number }>;
interface Decoded {
  values: Map<number, Value>;
}

const WIRE: Record<Kind, WireType> = {
  string: WireType.LengthDelimited,
  bytes: WireType.LengthDelimited,
  message: WireType.LengthDelimited,
  repeated: WireType.LengthDelimited,
  map: WireType.LengthDelimited,
  int64: WireType.Varint,
  int32: WireType.Varint,
  enum: WireType.Varint,
  bool: WireType.Varint,
  double: WireType.Bit64,
};

const MAX_DEPTH = 16;

function decodeMapEntry(bytes: Uint8Array): { key: Buffer; value: number } {
  const r = new BinaryReader(bytes);
  let key: Buffer = Buffer.alloc(0);
  let value = 0;
  while (r.pos < r.len) {
    const [num, wt] = r.tag();
    if (num === 1 && wt === WireType.LengthDelimited) key = Buffer.from(r.bytes());
    else if (num === 2 && wt === WireType.Bit64) value = r.double();
    else r.skip(wt, num);
  }
  return { key, value };
}

function decodeInto(spec: MessageSpec, bytes: Uint8Array, into: Decoded, depth: number): void {
  if (depth > MAX_DEPTH) throw new Error("messages nested too deeply");
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [num, wt] = r.tag();
    const fs = spec.fields.find((x) => x.num === num);
    if (!fs || WIRE[fs.kind] !== wt) {
      r.skip(wt, num);
      continue;
    }
    switch (fs.kind) {
      case "string":
      case "bytes":
        into.values.set(num, r.bytes());
        break;
      case "int64":
        into.values.set(num, BigInt(r.int64()));
        break;
      case "int32":
      case "enum":
        into.values.set(num, r.int32());
        break;
      case "bool":
        into.values.set(num, r.bool());
        break;
      case "double":
        into.values.set(num, r.double());
        break;
      case "message": {
        let sub = into.values.get(num) as Decoded | undefined;
        if (!sub) {
          sub = { values: new Map() };
          into.values.set(num, sub);
        }
        decodeInto(fs.msg!, r.bytes(), sub, depth + 1);
        break;
      }
      case "repeated": {
        let list = into.values.get(num) as Decoded[] | undefined;
        if (!list) {
          list = [];
          into.values.set(num, list);
        }
        const sub: Decoded = { values: new Map() };
        decodeInto(fs.msg!, r.bytes(), sub, depth + 1);
        list.push(sub);
        break;
      }
      case "map": {
        let m = into.values.get(num) as Map<string, { key: Buffer; value: number }> | undefined;
        if (!m) {
          m = new Map();
          into.values.set(num, m);
        }
        const e = decodeMapEntry(r.bytes());
        m.set(e.key.toString("latin1"), e);
        break;
      }
    }
  }
}

function renderValue(fs: FieldSpec, v: Value | undefined): string | undefined {
  if (v === undefined) return undefined;
  switch (fs.kind) {
    case "string":
      return (v as Uint8Array).length === 0 ? undefined : goJsonString(v as Uint8Array);
    case "bytes":
      return (v as Uint8Array).length === 0 ? undefined : goJsonBytes(v as Uint8Array);
    case "int64":
      return v === 0n ? undefined : String(v);
    case "int32":
    case "enum":
      return v === 0 ? undefined : String(v);
    case "bool":
      return v ? "true" : undefined;
    case "double":
      // omitempty leaves out 0 and -0 alike (both == 0); NaN is not empty and fails.
      return v === 0 ? undefined : goJsonFloat(v as number);
    case "message":
      return renderDecoded(fs.msg!, v as Decoded);
    case "repeated": {
      const list = v as Decoded[];
      return list.length === 0 ? undefined : `[${list.map((d) => renderDecoded(fs.msg!, d)).join(",")}]`;
    }
    case "map": {
      const m = v as Map<string, { key: Buffer; value: number }>;
      return m.size === 0 ? undefined : goJsonFloatMap(m);
    }
  }
}

function renderDecoded(spec: MessageSpec, d: Decoded): string {
  return goJsonObject(spec.fields.map((fs) => [fs.name, renderValue(fs, d.values.get(fs.num))] as const));
}

/** Renders one message's bytes as the v3 server's json.Marshal would. Throws on malformed bytes or a NaN/Inf. */
export function renderMessage(spec: MessageSpec, bytes: Uint8Array): string {
  const d: Decoded = { values: new Map() };
  decodeInto(spec, bytes, d, 0);
  return renderDecoded(spec, d);
}

/** FLTasks {fLTasks: [...]}, `omitempty`: an empty list renders as `{}`. */
export function renderTaskList(tasks: readonly { raw: Uint8Array }[]): string {
  if (tasks.length === 0) return "{}";
  return `{"fLTasks":[${tasks.map((t) => renderMessage(FLTaskSpec, t.raw)).join(",")}]}`;
}
