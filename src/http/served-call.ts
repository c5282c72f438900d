/**
 * A fastify request as the request pipeline sees it (src/api/pipeline.ts `ServedCall`),
 * for every HTTP/JSON side: the gateway's own `/v1/…` routes and the v3 grpc-gateway
 * routes. No client deadline (HTTP clients send none; the method's default applies).
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { responseDelivery, type Delivery } from "../api/delivery";
import type { ServedCall } from "../api/pipeline";

/** `side` prefixes the peer ("http", "v3http"): admission counts calls per connection and side. */
export function httpServedCall(method: string, req: FastifyRequest, reply: FastifyReply, side: string): ServedCall {
  let delivery: Delivery | undefined;
  return {
    method,
    transport: "http",
    peer: `${side}:${req.socket.remoteAddress}:${req.socket.remotePort}`,
    header(name) {
      const v = req.headers[name];
      return typeof v === "string" ? v : undefined;
    },
    clientDeadline: undefined,
    delivery: () => (delivery ??= responseDelivery(reply.raw)),
    onGone(fn) {
      // The response's close (the request's fires once its body has been read); after a
      // finished response it is not the client going away.
      reply.raw.on("close", () => {
        if (!reply.raw.writableFinished) fn();
      });
    },
  };
}
