/**
 * When has a client got its unary reply? grpc-js answers a handler's callback by
 * writing the message to the HTTP/2 stream and, once that write completed (the bytes
 * left for the peer under its flow-control window), sending the status. A client that
 * does not read leaves the write pending, and the reply's bytes in memory.
 *
 * This server interceptor observes exactly that for the methods it is given:
 * `sendStatus` is the end of the reply ("delivered"), the stream closing first is
 * "gone". The handler finds its call's Delivery through the request metadata object
 * (the one grpc-js hands to the handler), and can cut a client that does not read
 * within a bounded time off (RST_STREAM CANCEL), which frees the buffered reply.
 *
 * The HTTP/JSON routes' prediction replies have a Delivery too (`responseDelivery`):
 * the response finished, or its connection closed first; cutting it off destroys it.
 */
import type { ServerResponse } from "node:http";
import { constants as h2 } from "node:http2";
import * as grpc from "@grpc/grpc-js";

export type DeliveryEnd = "delivered" | "gone" | "cut";

/** What a Delivery cuts off: an HTTP/2 stream (RST_STREAM with the code) or anything closable. */
interface Cuttable {
  readonly destroyed: boolean;
  close(code?: number): void;
}

export class Delivery {
  private resolveEnded!: (end: DeliveryEnd) => void;
  private endedWith?: DeliveryEnd;
  private timer?: NodeJS.Timeout;
  /** Resolves once, when the reply was delivered, the client went away, or it was cut off. */
  readonly ended: Promise<DeliveryEnd>;

  constructor(private readonly stream: Cuttable | undefined) {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  end(how: DeliveryEnd): void {
    if (this.endedWith !== undefined) return;
    this.endedWith = how;
    clearTimeout(this.timer);
    this.resolveEnded(how);
  }

  get state(): DeliveryEnd | undefined {
    return this.endedWith;
  }

  /** Cuts the client off if the reply is not delivered within `ms` from now. */
  deadline(ms: number): void {
    if (this.endedWith !== undefined) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.cut(), ms);
    this.timer.unref();
  }

  /** Resets the stream: the reply's buffered bytes are dropped. */
  cut(): void {
    if (this.endedWith !== undefined) return;
    this.end("cut");
    if (this.stream && !this.stream.destroyed) this.stream.close(h2.NGHTTP2_CANCEL);
  }
}

const byMetadata = new WeakMap<grpc.Metadata, Delivery>();

/** The Delivery of the call whose request metadata this is (undefined for methods not tracked). */
export function deliveryOf(metadata: grpc.Metadata): Delivery | undefined {
  return byMetadata.get(metadata);
}

/** A grpc-js server interceptor tracking delivery for calls to `paths`; install it first. */
export function deliveryInterceptor(paths: readonly string[]): grpc.ServerInterceptor {
  const tracked = new Set(paths);
  return (method, call) => {
    if (!tracked.has(method.path)) return new grpc.ServerInterceptingCall(call);
    // The first interceptor is handed grpc-js's base call, which owns the HTTP/2 stream.
    const stream = (call as unknown as { stream?: Cuttable }).stream;
    const delivery = new Delivery(stream);
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMd) {
            byMetadata.set(metadata, delivery);
            nextMd(metadata);
          },
          onCancel() {
            delivery.end("gone");
          },
        });
      },
      sendStatus(status, next) {
        delivery.end("delivered");
        next(status);
      },
    });
  };
}

/** An HTTP response's Delivery: delivered once it finished, gone if its connection closed first. */
export function responseDelivery(res: ServerResponse): Delivery {
  const d = new Delivery({
    get destroyed() {
      return res.destroyed;
    },
    close: () => res.destroy(),
  });
  res.once("close", () => d.end(res.writableFinished ? "delivered" : "gone"));
  return d;
}
