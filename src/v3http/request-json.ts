/**
 * Request bodies as PaddleDTX v3's grpc-gateway (v1.16, JSONPb marshaler, golang/protobuf
 * 1.5 jsonpb) reads them: the first JSON value of the body; an empty body is an empty
 * request; `null` is an empty request; otherwise an object whose keys are matched
 * exactly against the proto field names (here equal to the JSON names); unknown keys
 * and `null` values ignored; strings must be JSON strings, bytes standard base64,
 * int64 a JSON integer or a quoted one. Anything else is InvalidArgument, which the
 * v3 server reports as code 10001 (see http-server.ts).
 */
import { status as Status } from "@grpc/grpc-js";
import { GatewayError } from "../core/errors";

/** A body grpc-gateway cannot decode: InvalidArgument raised by grpc-gateway itself (code 10001). */
export class JsonRequestError extends GatewayError {
  override name = "JsonRequestError";
  constructor(message: string) {
    super(Status.INVALID_ARGUMENT, message);
  }
}

export type FieldKind = "bytes" | "string" | "int64";

/** The extent of the first JSON value (an object, or a scalar) at the start of `s`. */
function firstValue(s: string): string {
  if (s[0] !== "{" && s[0] !== "[") {
    const m = /^("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(s);
    if (!m) throw new JsonRequestError(`invalid character '${s[0]}' looking for beginning of value`);
    return m[0];
  }
  let depth = 0;
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return s.slice(0, i + 1);
    }
  }
  throw new JsonRequestError("unexpected EOF");
}

const INT = /^\s*-?(0|[1-9][0-9]*)\s*$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const BASE64_STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function goType(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (typeof v === "object") return "object";
  return typeof v;
}

function readField(name: string, kind: FieldKind, raw: unknown): Buffer | string | bigint {
  if (kind === "string") {
    if (typeof raw !== "string")
      throw new JsonRequestError(`json: cannot unmarshal ${goType(raw)} into Go value of type string`);
    return raw;
  }
  if (kind === "bytes") {
    if (typeof raw !== "string")
      throw new JsonRequestError(`json: cannot unmarshal ${goType(raw)} into Go value of type []uint8`);
    // Go's StdEncoding skips \r and \n, and needs padding.
    const s = raw.replace(/[\r\n]/g, "");
    if (!BASE64_STD.test(s)) throw new JsonRequestError(`illegal base64 data in field ${name}`);
    return Buffer.from(s, "base64");
  }
  // int64: a JSON number, or a string holding one (jsonpb trims the quotes).
  const text =
    typeof raw === "string" ? raw : typeof raw === "number" || typeof raw === "bigint" ? String(raw) : undefined;
  if (text === undefined || !INT.test(text)) {
    throw new JsonRequestError(
      `json: cannot unmarshal ${typeof raw === "string" ? JSON.stringify(raw) : goType(raw)} into Go value of type int64`,
    );
  }
  const v = BigInt(text.trim());
  if (v < INT64_MIN || v > INT64_MAX)
    throw new JsonRequestError(`json: cannot unmarshal number ${text.trim()} into Go value of type int64`);
  return v;
}

/**
 * Parses a body for a message with the given fields. Numbers are read from the source
 * text (JSON.parse would round int64s), so the object is parsed with a reviver-free
 * second pass over the raw number tokens.
 */
export function parseRequestJson<T extends Record<string, FieldKind>>(
  body: string,
  fields: T,
): { [K in keyof T]?: T[K] extends "bytes" ? Buffer : T[K] extends "string" ? string : bigint } {
  const trimmed = body.replace(/^[\s]+/, "");
  if (trimmed === "") return {};
  const text = firstValue(trimmed);
  // Big integers keep their digits: quote every bare number before parsing.
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      text.replace(
        /("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g,
        (_m, str: string | undefined, num: string | undefined) => (str !== undefined ? str : `{"$num":"${num}"}`),
      ),
    );
  } catch (err) {
    throw new JsonRequestError((err as Error).message);
  }
  const unwrap = (v: unknown): unknown =>
    v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 && "$num" in v
      ? Number.isInteger(Number((v as { $num: string }).$num)) && /^-?\d+$/.test((v as { $num: string }).$num)
        ? BigInt((v as { $num: string }).$num)
        : Number((v as { $num: string }).$num)
      : v;
  const top = unwrap(parsed);
  if (top === null) return {};
  if (typeof top !== "object" || Array.isArray(top)) {
    throw new JsonRequestError(
      `json: cannot unmarshal ${goType(top)} into Go value of type map[string]json.RawMessage`,
    );
  }
  const obj = top as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [name, kind] of Object.entries(fields)) {
    if (!Object.prototype.hasOwnProperty.call(obj, name)) continue;
    const raw = unwrap(obj[name]);
    if (raw === null) continue;
    out[name] = readField(name, kind, raw);
  }
  return out as { [K in keyof T]?: T[K] extends "bytes" ? Buffer : T[K] extends "string" ? string : bigint };
}
