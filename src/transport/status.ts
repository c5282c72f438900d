/**
 * The gRPC-over-HTTP/2 vocabulary shared by the gateway's own transport: status codes
 * (numerically grpc-js's `status`), ServiceError-shaped errors, `grpc-timeout`,
 * percent-encoded `grpc-message`, `-bin` metadata, and how HTTP/2 failures map to codes
 * (PROTOCOL-HTTP2.md of grpc/grpc, "HTTP to gRPC Status Code Mapping" and "Errors").
 */
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";

export const Status = grpc.status;
export type Status = grpc.status;

/** What callers of an upstream call get on failure: the shape of grpc-js's ServiceError. */
export class TransportError extends Error {
  override name = "TransportError";
  constructor(
    readonly code: Status,
    readonly details: string,
    readonly metadata: grpc.Metadata = new grpc.Metadata(),
  ) {
    super(`${code} ${Status[code]}: ${details}`);
  }
}

/**
 * `grpc-timeout`: at most 8 digits and a unit. Milliseconds while they fit, whole
 * seconds beyond (rounded up: the server must not give up before we do).
 */
export function encodeTimeout(ms: number): string {
  const m = Math.max(1, Math.ceil(ms));
  if (m < 100_000_000) return `${m}m`;
  const s = Math.ceil(m / 1000);
  if (s < 100_000_000) return `${s}S`;
  return `${Math.min(99_999_999, Math.ceil(s / 3600))}H`;
}

const TIMEOUT_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** Milliseconds of a `grpc-timeout` value; undefined when it is malformed. */
export function decodeTimeout(v: string): number | undefined {
  const m = /^([0-9]{1,8})([HMSmun])$/.exec(v);
  return m ? Number(m[1]) * TIMEOUT_UNITS[m[2]!]! : undefined;
}

/** `grpc-message` is percent-encoded UTF-8; a malformed escape is kept as it is. */
export function decodeGrpcMessage(v: string): string {
  if (!v.includes("%")) return v;
  try {
    return decodeURIComponent(v);
  } catch {
    return v.replace(/(%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}

/** Percent-encodes what the spec does not allow raw in `grpc-message` (outside 0x20–0x7E, and '%'). */
export function encodeGrpcMessage(v: string): string {
  let out = "";
  for (const b of Buffer.from(v, "utf8")) {
    out +=
      b >= 0x20 && b <= 0x7e && b !== 0x25
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * The code of a status an Executor sent. Older grpc-go (Debian's 1.33 among them) answers a
 * handler that returned `ctx.Err()` with UNKNOWN and Go's own text; newer grpc-go maps it as
 * `status.FromContextError` does, and so do we: a deadline is a deadline, not an Executor fault.
 */
export function statusFromPeer(code: Status, message: string): Status {
  if (code !== Status.UNKNOWN) return code;
  if (message === "context deadline exceeded") return Status.DEADLINE_EXCEEDED;
  if (message === "context canceled") return Status.CANCELLED;
  return code;
}

/** HTTP status of a reply that is not gRPC (a proxy's answer) → gRPC code. */
export function httpStatusToGrpc(status: number): Status {
  switch (status) {
    case 400:
      return Status.INTERNAL;
    case 401:
      return Status.UNAUTHENTICATED;
    case 403:
      return Status.PERMISSION_DENIED;
    case 404:
      return Status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Status.UNAVAILABLE;
    default:
      return Status.UNKNOWN;
  }
}

/** RST_STREAM error code from the peer → gRPC code. */
export function rstCodeToGrpc(code: number): Status {
  const c = http2.constants;
  switch (code) {
    case c.NGHTTP2_REFUSED_STREAM:
      return Status.UNAVAILABLE;
    case c.NGHTTP2_CANCEL:
      return Status.CANCELLED;
    case c.NGHTTP2_ENHANCE_YOUR_CALM:
      return Status.RESOURCE_EXHAUSTED;
    case c.NGHTTP2_INADEQUATE_SECURITY:
      return Status.PERMISSION_DENIED;
    default:
      return Status.INTERNAL;
  }
}

/** Headers that are transport, not metadata. */
const RESERVED = new Set([
  "content-type",
  "te",
  "user-agent",
  "grpc-status",
  "grpc-message",
  "grpc-encoding",
  "grpc-accept-encoding",
  "grpc-timeout",
  "grpc-status-details-bin",
  "content-length",
  "date",
]);

/** Metadata to send, as HTTP/2 headers (`-bin` values base64, repeated keys as arrays). */
export function metadataToHeaders(md: grpc.Metadata, into: http2.OutgoingHttpHeaders): void {
  for (const [k, vs] of Object.entries(md.toHttp2Headers())) {
    if (RESERVED.has(k) || k.startsWith(":")) continue;
    into[k] = vs;
  }
}

/** Received headers or trailers → metadata (`-bin` values decoded from base64). */
export function headersToMetadata(h: http2.IncomingHttpHeaders): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith(":") || RESERVED.has(k) || v === undefined) continue;
    const values = Array.isArray(v) ? v : [v];
    try {
      for (const one of values) {
        if (k.endsWith("-bin")) for (const part of one.split(",")) md.add(k, Buffer.from(part.trim(), "base64"));
        else md.add(k, one);
      }
    } catch {
      // A key grpc-js would not accept (upper case, bad characters): not metadata we can pass on.
    }
  }
  return md;
}
