/**
 * The raw unary call to an Executor, as an interface of its own: the seam between the
 * per-Executor client (src/upstream/executor-client.ts, which owns deadlines,
 * circuits and outcome classification) and whatever moves the bytes. Today that is
 * grpc-js (src/upstream/pool.ts); an own node:http2 transport (src/transport/) fits
 * the same shape and is swapped in one line of src/gateway.ts.
 *
 * Contract: requests and replies are raw message bytes (never decoded here); a call
 * resolves with the reply bytes or rejects with a ServiceError-shaped error
 * `{ code, details, metadata }` (grpc status code), a RefusedAddressError (nothing was
 * sent: the address may not be connected to), or ResponseTooLargeError (a
 * RESOURCE_EXHAUSTED ServiceError) for a reply over the method's limit.
 */
import * as grpc from "@grpc/grpc-js";
import type { UpstreamStream } from "../transport/client";
import type { UpstreamMethod } from "../wire/facts";

export interface UnaryCallOptions {
  metadata?: grpc.Metadata;
  /** Cancels the call (RST_STREAM) when aborted; the call then rejects with CANCELLED. */
  signal?: AbortSignal;
}

export interface UnaryTransport {
  call(
    address: string,
    method: UpstreamMethod,
    request: Buffer,
    deadline: Date,
    opts?: UnaryCallOptions,
  ): Promise<Buffer>;
  /**
   * One call whose reply is handed over as a stream once its headers arrive, for a relay
   * under flow control (GetPredictResult). Only transports that can (the own node:http2
   * one) have it; rejects like `call` when no headers came.
   */
  openStream?(
    address: string,
    method: UpstreamMethod,
    request: Buffer,
    deadline: Date,
    opts?: UnaryCallOptions,
  ): Promise<UpstreamStream>;
  /** Closes every connection; calls after it fail. */
  close(): void;
}

/** The shape every transport rejects with (grpc-js's ServiceError fits). */
export interface TransportError extends Error {
  code: grpc.status;
  details: string;
  metadata: grpc.Metadata;
}

/** A reply over the method's size limit; a ServiceError-shaped RESOURCE_EXHAUSTED. */
export class ResponseTooLargeError extends Error implements TransportError {
  override name = "ResponseTooLargeError";
  readonly code = grpc.status.RESOURCE_EXHAUSTED;
  readonly details: string;
  readonly metadata = new grpc.Metadata();
  constructor(message: string) {
    super(message);
    this.details = message;
  }
}

/** A ServiceError-shaped CANCELLED for a call cancelled by its caller. */
export function cancelledError(): TransportError {
  return Object.assign(new Error("cancelled by caller"), {
    code: grpc.status.CANCELLED,
    details: "cancelled",
    metadata: new grpc.Metadata(),
  });
}
