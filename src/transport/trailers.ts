/**
 * A unary reply's headers, message and trailers in one socket write.
 *
 * node:http2 writes a reply that has trailers in two writes, a loop turn apart:
 * - `end(data)` shuts the stream's writable side only once the data's write has
 *   completed (while trailers are wanted), so the first write carries the data without
 *   EOF;
 * - `sendTrailers` then submits the trailers from a `setImmediate`, and they go out with
 *   the next turn's write.
 * So every call costs its connection two writes, and a connection held to one stream
 * waits a turn longer for its next call (issue 14, bench/scenarios/s6-overload.ts).
 *
 * On Node 20 this module does what node does for a stream without trailers: it lets the
 * writable side shut down on the tick of the last write (by clearing the JS-side "has
 * trailers" flag; the native side still withholds END_STREAM), and it submits the
 * trailers from inside the `wantTrailers` callback, which nghttp2 allows
 * (`nghttp2_submit_trailer` "can be used inside nghttp2_data_source_read_callback").
 * nghttp2 then frames HEADERS, DATA and trailers in one pass: one writev a call.
 *
 * It reaches private members of node's Http2Stream (the `kHandle` and `state` symbols,
 * `trailers()` and `flags`, and the writable state's `errored`), so it is used only on
 * Node 20 and where they look as expected; anywhere else the public API does the same in
 * two writes.
 */
import type http2 from "node:http2";

/** STREAM_FLAGS_HAS_TRAILERS in node's lib/internal/http2/core.js (Node 20). */
const HAS_TRAILERS = 0x20;
/** NGHTTP2_NV_FLAG_NONE, as node encodes it after each name and value. */
const NV_FLAG_NONE = "\0";

/** Node's own encoding of a header list for its native handle: name\0value\0flag…, and the count. */
type NativeHeaders = [string, number];

interface NativeStream {
  trailers(headers: NativeHeaders): number;
}
interface StreamInternals {
  handle: symbol;
  state: symbol;
}

let internals: StreamInternals | null | undefined;

function probe(stream: http2.ServerHttp2Stream): StreamInternals | null {
  if (process.versions.node.split(".")[0] !== "20") return null;
  let handle: symbol | undefined;
  let state: symbol | undefined;
  for (const s of Object.getOwnPropertySymbols(stream)) {
    if (s.description === "kHandle") handle = s;
    else if (s.description === "state") state = s;
  }
  if (handle === undefined || state === undefined) return null;
  const fields = stream as unknown as Record<symbol, unknown>;
  const h = fields[handle] as Partial<NativeStream> | undefined;
  const st = fields[state] as { flags?: unknown } | undefined;
  if (typeof h?.trailers !== "function" || typeof st?.flags !== "number") return null;
  return { handle, state };
}

/** The native form of each trailers block, made once per block (kept hit replies pass the same one). */
const encoded = new WeakMap<http2.OutgoingHttpHeaders, NativeHeaders | null>();

/** null when the block holds what only node's own checks should judge (pseudo-headers, odd names, NUL). */
function encode(trailers: http2.OutgoingHttpHeaders): NativeHeaders | null {
  let cached = encoded.get(trailers);
  if (cached !== undefined) return cached;
  let list = "";
  let count = 0;
  cached = null;
  encoding: {
    for (const [k, v] of Object.entries(trailers)) {
      if (v === undefined) continue;
      const name = k.toLowerCase();
      if (!/^[a-z0-9!#$%&'*+\-.^_`|~]+$/.test(name)) break encoding;
      for (const value of Array.isArray(v) ? v : [v]) {
        const text = String(value);
        // NUL separates the native list's fields.
        if (text.includes("\0")) break encoding;
        list += `${name}\0${text}\0${NV_FLAG_NONE}`;
        count++;
      }
    }
    if (count > 0) cached = [list, count];
  }
  encoded.set(trailers, cached);
  return cached;
}

/** Whether replies on this process go out in one write (false: node's public two-write path). */
export function coalescesTrailers(stream: http2.ServerHttp2Stream): boolean {
  if (internals === undefined) internals = probe(stream);
  return internals !== null;
}

/**
 * Answers `stream` with `headers`, `body` and `trailers`, in one write where
 * `coalescesTrailers`. `trailers` should be a long-lived object (its encoding is kept).
 */
export function replyWithTrailers(
  stream: http2.ServerHttp2Stream,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer,
  trailers: http2.OutgoingHttpHeaders,
): void {
  stream.respond(headers, { waitForTrailers: true });
  const native = coalescesTrailers(stream) ? encode(trailers) : null;
  if (native === null || internals == null) {
    stream.once("wantTrailers", () => stream.sendTrailers(trailers));
    stream.end(body);
    return;
  }
  const { handle, state } = internals;
  const fields = stream as unknown as Record<symbol, unknown>;
  (fields[state] as { flags: number }).flags &= ~HAS_TRAILERS;
  stream.once("wantTrailers", () => {
    const h = fields[handle] as NativeStream | undefined;
    if (h === undefined) return;
    const ret = h.trailers(native);
    if (ret < 0) {
      stream.destroy(new Error(`nghttp2 refused the trailers (${ret})`));
      return;
    }
    // The request has ended, so these trailers close the stream in this very pass, and
    // node destroys it before the data's write completes; that completion would then build
    // an ERR_STREAM_DESTROYED for the stream's (absent) end callbacks, a NodeError with its
    // stack a call. Marked errored, the stream hands them this one instead.
    if (stream.readableEnded)
      (stream as unknown as { _writableState: { errored: Error } })._writableState.errored = CLOSED_BY_TRAILERS;
  });
  stream.end(body);
}

const CLOSED_BY_TRAILERS = new Error("the stream was closed by its trailers");
