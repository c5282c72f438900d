/**
 * The HTTP side of the gateway (`httpListen`) on fastify: health, readiness, metrics,
 * the JSON routes and the dashboard. Fastify brings the body limit, timeouts, CORS
 * (@fastify/cors) and routing; this module adds what the gateway's HTTP contract says:
 *
 * - every request body, whatever its content type, is read up to `api.maxRequestBytes`
 *   (413 beyond) and parsed by the route (src/http/json-api.ts);
 * - a known path asked with another method answers 405 with `Allow`; an unknown one 404;
 * - errors of a JSON route are the `{code, message, data}` envelope with the catalog's status;
 * - the HTTP side can never delay the Task API (issue 14, case 7): at most
 *   `http.maxConnections` connections and `http.maxConcurrentRequests` requests in
 *   flight, header and request timeouts, and while the event loop lags more than
 *   `http.shedLagMs` every request but /healthz and /readyz is answered 503 + Retry-After at once.
 */
import cors from "@fastify/cors";
import { status as Status } from "@grpc/grpc-js";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { GatewayError, httpStatusOf, toGatewayError } from "../core/errors";
import type { Logger } from "pino";
import { bodyTooLarge, errorEnvelope } from "./json-api";

export interface HttpServerOptions {
  maxRequestBytes: number;
  corsOrigins: readonly string[];
  /** Connections open at once; more are refused by the socket server. */
  maxConnections?: number;
  /** Requests being handled at once; more get 503 + Retry-After. */
  maxConcurrentRequests?: number;
  /** Time allowed for a request's headers, and for the whole request. */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this. */
  keepAliveTimeoutMs?: number;
  /** The event loop's recent lag (src/core/loop-monitor.ts) and the lag above which HTTP yields. */
  lagMs?: () => number;
  shedLagMs?: number;
  /** Logs requests refused before their route ran (body over the limit, unreadable body). */
  log?: Logger;
}

/** Always answered: liveness must not depend on load. */
const NEVER_SHED = new Set(["/healthz", "/readyz"]);

const CORS_HEADERS = ["content-type", "x-request-id", "dai-consistency", "dai-cache-control"];

export class HttpServer {
  readonly app: FastifyInstance;
  /** Methods served per path (for 405 + Allow). */
  private readonly methods = new Map<string, Set<string>>();
  private inFlight = 0;
  /** Requests answered 503 because of load (metrics, tests). */
  shed = 0;

  private constructor(private readonly opts: HttpServerOptions) {
    this.app = Fastify({
      bodyLimit: opts.maxRequestBytes,
      requestTimeout: opts.requestTimeoutMs ?? 30_000,
      keepAliveTimeout: opts.keepAliveTimeoutMs ?? 5000,
      connectionTimeout: 0,
      // HEAD is answered only where a route declares it (a GET route does not imply it).
      exposeHeadRoutes: false,
      return503OnClosing: true,
      forceCloseConnections: true,
      logger: false,
    });
    // Headers must arrive within 10 s (slowloris); the whole request within 30 s.
    this.app.server.headersTimeout = 10_000;
    this.app.addHook("onRoute", (r) => {
      const list = Array.isArray(r.method) ? r.method : [r.method];
      let set = this.methods.get(r.url);
      if (!set) this.methods.set(r.url, (set = new Set()));
      for (const m of list) set.add(m);
    });
    const server = this.app.server;
    server.maxConnections = opts.maxConnections ?? 512;
    server.headersTimeout = opts.headersTimeoutMs ?? 10_000;
    const maxInFlight = opts.maxConcurrentRequests ?? 64;
    const shedLag = opts.shedLagMs ? opts.shedLagMs : Infinity;
    this.app.addHook("onRequest", (req, reply, done) => {
      const path = req.url.split("?")[0] ?? "/";
      if (NEVER_SHED.has(path)) return done();
      if (this.inFlight >= maxInFlight || (opts.lagMs !== undefined && opts.lagMs() > shedLag)) {
        this.shed++;
        void reply
          .code(503)
          .header("retry-after", "1")
          .header("cache-control", "no-store")
          .type("text/plain")
          .send("busy: the gateway serves the Task API first; retry later\n");
        return;
      }
      this.inFlight++;
      let finished = false;
      reply.raw.once("close", () => {
        if (!finished) {
          finished = true;
          this.inFlight--;
        }
      });
      done();
    });
    // One parser for every content type: the route decides what the bytes mean.
    this.app.removeAllContentTypeParsers();
    this.app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
    this.app.setNotFoundHandler((req, reply) => this.notFound(req, reply));
    this.app.setErrorHandler((err, req, reply) => this.failed(err, req, reply));
  }

  static async create(opts: HttpServerOptions): Promise<HttpServer> {
    const s = new HttpServer(opts);
    const allowed = opts.corsOrigins;
    await s.app.register(cors, {
      origin: (origin, cb) => {
        if (origin === undefined || allowed.length === 0) return cb(null, false);
        if (allowed.includes("*")) return cb(null, "*");
        cb(null, allowed.includes(origin) ? origin : false);
      },
      methods: ["GET", "POST", "OPTIONS"],
      allowedHeaders: CORS_HEADERS,
      maxAge: 600,
      strictPreflight: false,
    });
    return s;
  }

  private notFound(req: FastifyRequest, reply: FastifyReply): void {
    const path = req.url.split("?")[0] ?? "/";
    const served = this.methods.get(path);
    if (served && served.size > 0) {
      const allow = [...served]
        .filter((m) => m !== "HEAD" || served.has("HEAD"))
        .sort()
        .join(", ");
      void reply
        .code(405)
        .header("allow", allow)
        .type("text/plain")
        .send(`method ${req.method} not allowed; allowed: ${allow}\n`);
      return;
    }
    void reply.code(404).type("text/plain").send("not found\n");
  }

  private failed(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
    const fst = err as { code?: string; statusCode?: number };
    let e: GatewayError;
    if (fst.code === "FST_ERR_CTP_BODY_TOO_LARGE") e = bodyTooLarge(this.opts.maxRequestBytes);
    else if (
      typeof fst.statusCode === "number" &&
      fst.statusCode >= 400 &&
      fst.statusCode < 500 &&
      !(err instanceof GatewayError)
    )
      e = new GatewayError(Status.INVALID_ARGUMENT, (err as Error).message, { httpStatus: fst.statusCode });
    else {
      const converted = toGatewayError(err);
      e = converted.error;
      // A route's own failure (a bug, not the request): the client gets INTERNAL without its text, the log gets it.
      if (converted.unexpected) {
        this.opts.log?.error({ route: `${req.method} ${req.url.split("?")[0]}`, err }, "unexpected error");
      }
    }
    const status = e.httpStatus ?? httpStatusOf(e.code);
    this.opts.log?.info(
      { route: `${req.method} ${req.url.split("?")[0]}`, http: status, code: Status[e.code] },
      "refused",
    );
    if (status === 413) void reply.header("connection", "close");
    if (e.retryAfterMs !== undefined)
      void reply.header("retry-after", String(Math.max(1, Math.ceil(e.retryAfterMs / 1000))));
    void reply.code(status).header("cache-control", "no-store").send(errorEnvelope(e));
  }

  async listen(host: string, port: number): Promise<number> {
    await this.app.listen({ host, port });
    const addr = this.app.server.address();
    return typeof addr === "object" && addr ? addr.port : port;
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}
