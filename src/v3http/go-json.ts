/**
 * Go `encoding/json` rendering rules, as PaddleDTX v3's HTTP server applies them with
 * `json.Marshal` to the protoc-gen-go structs (spec §10). Only what those structs need:
 * strings (from their UTF-8 bytes), float64, integers, bools, bytes, objects in struct
 * field order with `omitempty`, and maps with sorted keys.
 *
 * The Go release is the one PaddleDTX's main branch was built with (go.mod says 1.16;
 * builds of 2022–2023 used Go 1.16–1.21): before Go 1.22, `\b` and `\f` are written as
 * `\u0008` and `\u000c`.
 */

/** json.Marshal of a NaN or infinite float64 fails (UnsupportedValueError). */
export class GoJsonUnsupportedValue extends Error {
  override name = "GoJsonUnsupportedValue";
}

const HEX = "0123456789abcdef";

/**
 * The length of a valid UTF-8 sequence at `i`, or 0 where Go's utf8.DecodeRune reports
 * RuneError with size 1 (bad lead byte, bad continuation, overlong, surrogate, > U+10FFFF,
 * truncated).
 */
function utf8SeqLength(b: Uint8Array, i: number): number {
  const c0 = b[i]!;
  const n = b.length;
  const cont = (j: number, lo = 0x80, hi = 0xbf): boolean => j < n && b[j]! >= lo && b[j]! <= hi;
  if (c0 >= 0xc2 && c0 <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (c0 >= 0xe0 && c0 <= 0xef) {
    const lo = c0 === 0xe0 ? 0xa0 : 0x80;
    const hi = c0 === 0xed ? 0x9f : 0xbf;
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  if (c0 >= 0xf0 && c0 <= 0xf4) {
    const lo = c0 === 0xf0 ? 0x90 : 0x80;
    const hi = c0 === 0xf4 ? 0x8f : 0xbf;
    return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

/**
 * A Go string (its bytes) as encoding/json writes it with HTML escaping on (json.Marshal):
 * `"` and `\` escaped, `\n` `\r` `\t` short, other bytes < 0x20 and `<` `>` `&` as `\u00XX`,
 * U+2028/U+2029 as `\u2028`/`\u2029`, each invalid UTF-8 byte as `\ufffd`, the rest as is.
 */
export function goJsonString(input: Uint8Array | string): string {
  const b = typeof input === "string" ? Buffer.from(input, "utf8") : input;
  let out = '"';
  let start = 0;
  const flush = (i: number): void => {
    if (i > start) out += Buffer.from(b.buffer, b.byteOffset + start, i - start).toString("utf8");
  };
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      let esc: string | undefined;
      if (c === 0x22) esc = '\\"';
      else if (c === 0x5c) esc = "\\\\";
      else if (c === 0x0a) esc = "\\n";
      else if (c === 0x0d) esc = "\\r";
      else if (c === 0x09) esc = "\\t";
      else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26) esc = `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
      if (esc !== undefined) {
        flush(i);
        out += esc;
        start = i + 1;
      }
      i++;
      continue;
    }
    const len = utf8SeqLength(b, i);
    if (len === 0) {
      flush(i);
      out += "\\ufffd";
      i++;
      start = i;
      continue;
    }
    // U+2028 = E2 80 A8, U+2029 = E2 80 A9
    if (len === 3 && c === 0xe2 && b[i + 1] === 0x80 && (b[i + 2] === 0xa8 || b[i + 2] === 0xa9)) {
      flush(i);
      out += b[i + 2] === 0xa8 ? "\\u2028" : "\\u2029";
      start = i + 3;
    }
    i += len;
  }
  flush(b.length);
  return out + '"';
}

/**
 * A float64 as encoding/json writes it: the shortest digits that read back to the same
 * value, positional for 1e-6 <= |f| < 1e21, else exponent form with at least one exponent
 * digit (`1e+21`, `1e-7`); `-0` keeps its sign. JavaScript's Number-to-string picks the
 * same digits and the same cut-over points, so only -0 needs care.
 */
export function goJsonFloat(f: number): string {
  if (!Number.isFinite(f)) throw new GoJsonUnsupportedValue(`json: unsupported value: ${goFormatG(f)}`);
  if (f === 0) return Object.is(f, -0) ? "-0" : "0";
  return String(f);
}

function goFormatG(f: number): string {
  return Number.isNaN(f) ? "NaN" : f > 0 ? "+Inf" : "-Inf";
}

/** []byte: standard base64 with padding. */
export function goJsonBytes(b: Uint8Array): string {
  return `"${Buffer.from(b.buffer, b.byteOffset, b.length).toString("base64")}"`;
}

/**
 * A struct with `json:"name,omitempty"` fields, in declaration order: `fields` holds each
 * field's rendered value, or undefined when it is empty (omitted).
 */
export function goJsonObject(fields: readonly (readonly [name: string, value: string | undefined])[]): string {
  let out = "{";
  let first = true;
  for (const [name, value] of fields) {
    if (value === undefined) continue;
    if (!first) out += ",";
    first = false;
    out += `${goJsonString(name)}:${value}`;
  }
  return out + "}";
}

/** map[string]float64: keys sorted by their bytes, values never omitted. */
export function goJsonFloatMap(entries: ReadonlyMap<string, { key: Buffer; value: number }>): string {
  const sorted = [...entries.values()].sort((a, b) => Buffer.compare(a.key, b.key));
  return `{${sorted.map((e) => `${goJsonString(e.key)}:${goJsonFloat(e.value)}`).join(",")}}`;
}
