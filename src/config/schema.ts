/**
 * The one place configuration is defined: every key, its type, default and meaning.
 * README "Configuration" documents the same keys; keep the two in step.
 */
import { z } from "zod";
import { parseAddress, parseListen } from "../upstream/address";
import { checkAllowPattern } from "../upstream/allowlist";
import { ipPatterns } from "../upstream/connect";
import { DEFAULT_KEEPALIVE_TIME_MS } from "../upstream/pool";

const hostPort = z.string().refine((s) => parseAddress(s) !== null, {
  message: "expected host:port (IPv6 as [addr]:port)",
});

const listenAddress = z.string().refine(
  (s) => {
    try {
      parseListen(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: "expected host:port to listen on (port 0 picks a free port)" },
);

const hexKey = z.string().regex(/^[0-9a-fA-F]{128}$/, "expected a 64-byte public key as 128 hex characters");

/** A PaddleDTX wire generation (spec §10): v2 = every tagged release, v3 = the main branch. */
const generation = z.enum(["v2", "v3"]);

const seed = z.union(
  [
    hostPort,
    z.strictObject({
      address: hostPort,
      /** The Executor's public key; needed for the cluster-wide view until discovery learns it. */
      pubKey: hexKey.optional(),
      /** This Executor's generation (default: executors.generation). */
      generation: generation.optional(),
      /** A name for people (the `executors` table, the dashboard); the wire never carries it. */
      name: z.string().min(1).max(64).optional(),
    }),
  ],
  { error: 'expected "host:port" or { address, pubKey, generation, name }' },
);

/** A listen address, or "" for off. */
const optionalListen = z.union([z.literal(""), listenAddress]);

function checkPattern(s: string, ctx: z.RefinementCtx): void {
  try {
    checkAllowPattern(s);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
  }
}

const allowPattern = z.string().superRefine(checkPattern);

/** An IP or CIDR allow pattern: what a resolved IP can match (a host-name pattern never does). */
const ipAllowPattern = z
  .string()
  .min(1)
  .superRefine(checkPattern)
  .refine((s) => ipPatterns([s]).length === 1, {
    message: "expected an IP or CIDR pattern (a resolved IP never matches a host name)",
  });

const upstreamTls = z
  .strictObject({
    /** Address pattern, same forms as discoveryAllow. */
    match: z.string().min(1).superRefine(checkPattern),
    /** CA bundle (PEM file) that signs the Executor's certificate. */
    ca: z.string().min(1),
    /** Client certificate and key (PEM files) for Executors that require mutual TLS. */
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    /** Name expected in the Executor's certificate (default: the address's host). */
    serverName: z.string().min(1).optional(),
  })
  .refine((t) => (t.cert === undefined) === (t.key === undefined), { message: "cert and key go together" });

const ms = (def: number) => z.number().int().positive().default(def);

export const configSchema = z.strictObject({
  /** gRPC listen address of the Task API. */
  listen: listenAddress.default("0.0.0.0:8184"),
  /** HTTP listen address for health and metrics. */
  httpListen: listenAddress.default("0.0.0.0:9184"),
  executors: z
    .strictObject({
      seeds: z.array(seed).default([]),
      /** Generation of Executors whose seed does not say, and of every discovered one (never guessed: spec §10). */
      generation: generation.default("v2"),
      discoveryAllow: z.array(allowPattern).default([]),
      maxExecutors: z.number().int().min(1).max(100_000).default(256),
      callTimeoutMs: ms(3000),
      /** Upstream calls in flight per fan-out; 0 = no per-fan-out bound (one round asks the whole set at once). */
      concurrency: z.number().int().min(0).max(100_000).default(0),
      /**
       * What carries upstream calls: "grpc-js" (@grpc/grpc-js channels), or "http2", the
       * gateway's own gRPC transport on node:http2 (src/transport/client.ts; about half
       * grpc-js's CPU per call, a reply over its limit refused from its length prefix).
       */
      transport: z.enum(["grpc-js", "http2"]).default("http2"),
      /** Upstream calls in flight gateway-wide (all fan-outs, probes and prediction relays share one limiter). */
      maxUpstreamCalls: z.number().int().min(1).max(1_000_000).default(4096),
      /** How many times one ListTask/GetTaskById follows newly discovered Executors. */
      discoveryRounds: z.number().int().min(0).max(10).default(3),
      // Executor set lifecycle (README "Executor set lifecycle").
      /** An Executor failing without a break this long leaves the live set (a candidate is forgotten). */
      departAfterMs: ms(30_000),
      /** A departed discovered Executor that no task names for this long is forgotten. */
      forgetAfterMs: ms(600_000),
      /** Candidates one Executor's replies may add per `discoveryBudgetIntervalMs`. */
      discoveryBudget: z.number().int().min(0).max(100_000).default(16),
      discoveryBudgetIntervalMs: ms(60_000),
      /** How long an answer waits for candidates and departed Executors after the live set answered. */
      candidateWaitMs: z.number().int().min(0).max(60_000).default(200),
      /** Largest reply accepted from an Executor for ListTask/GetTaskById. */
      maxResponseBytes: z
        .number()
        .int()
        .min(1024)
        .default(64 * 1024 * 1024),
      // Resilience (README "Resilience and security").
      /** Consecutive failures that open an Executor's circuit. */
      circuitFailures: z.number().int().min(1).max(1000).default(5),
      /** Back-off before the first probe of an open circuit; doubles while probes fail. */
      circuitHalfOpenAfterMs: ms(5000),
      circuitMaxHalfOpenAfterMs: ms(60_000),
      /**
       * Keepalive pings on channels to Executors, only while calls are in flight. An Executor's
       * grpc-go server refuses pings more often than every 5 minutes (spec §9): keep it above that.
       */
      keepaliveTimeMs: ms(DEFAULT_KEEPALIVE_TIME_MS),
      /** How long a keepalive ping may go unanswered before the channel is dropped. */
      keepaliveTimeoutMs: ms(20_000),
      /** GetTaskById: answer this long after the first copy arrived without waiting for stragglers (0: off). */
      hedgeDelayMs: z.number().int().min(0).default(0),
      /** TLS to Executors whose address matches `match` (first match wins); plain text otherwise. */
      tls: z.array(upstreamTls).default([]),
      dns: z
        .strictObject({
          /** IP/CIDR patterns every resolved IP of a discovered host name must match; empty: the IP/CIDR patterns of discoveryAllow. */
          resolvedAllow: z.array(ipAllowPattern).default([]),
          timeoutMs: ms(2000),
          cacheMs: ms(30_000),
          maxEntries: z.number().int().min(1).max(100_000).default(1024),
        })
        .prefault({}),
    })
    // The back-off doubles from the first up to the longest: a longest below the first means neither.
    .refine((e) => e.circuitMaxHalfOpenAfterMs >= e.circuitHalfOpenAfterMs, {
      message: "executors.circuitMaxHalfOpenAfterMs must be at least executors.circuitHalfOpenAfterMs",
      path: ["circuitMaxHalfOpenAfterMs"],
    })
    .prefault({}),
  /** TLS for the gateway's own gRPC port; plain text when `cert` is empty. */
  tls: z
    .strictObject({
      /** PEM files; empty: unset. */
      cert: z.string().default(""),
      key: z.string().default(""),
      /** CA bundle for client certificates: set = mutual TLS (clients must present a certificate). */
      clientCa: z.string().default(""),
    })
    .refine((t) => (t.cert === "") === (t.key === ""), { message: "tls.cert and tls.key go together" })
    .refine((t) => t.clientCa === "" || t.cert !== "", { message: "tls.clientCa needs tls.cert and tls.key" })
    .prefault({}),
  /** On SIGTERM: how long in-flight calls may take to finish before the server closes. */
  shutdownGraceMs: ms(10_000),
  api: z
    .strictObject({
      /** Most tasks one ListTask answer may hold; a larger answer → RESOURCE_EXHAUSTED (bounds reply memory). */
      maxListTasks: z.number().int().min(1).max(10_000_000).default(10_000),
      /** How `listen` reads a ListTask request that carries no evidence of its layout (README "Two generations"). */
      generation: generation.default("v2"),
      /** Deadline of a ListTask/GetTaskById whose client sent none; 0: the fan-out's own bound (src/config/deadlines.ts). */
      defaultDeadlineMs: z.number().int().min(0).default(0),
      /** Largest request message accepted from a client. */
      maxRequestBytes: z
        .number()
        .int()
        .min(1024)
        .default(1024 * 1024),
      /** Calls served at once, gateway-wide; more get RESOURCE_EXHAUSTED. */
      maxConcurrentCalls: z.number().int().min(1).max(1_000_000).default(4096),
      /** Calls served at once on one client connection (an Executor serves 1000); more get RESOURCE_EXHAUSTED. */
      maxConcurrentCallsPerConnection: z.number().int().min(1).max(100_000).default(1000),
      /**
       * HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS of each client connection (at most twice
       * maxConcurrentCallsPerConnection): a client with more calls queues them on its own
       * side, so a flood on one connection waits there and cannot starve the others.
       */
      maxStreamsPerConnection: z.number().int().min(1).max(100_000).default(8),
      /**
       * Own server (api.server "http2"): while calls have waited to start longer than this
       * (ms) for a tenth of a second, the connections that queue calls behind their own are
       * told to open fewer streams, down to 1, and more again, one a tenth of a second, up
       * to maxStreamsPerConnection once the queue is gone (src/transport/stream-limit.ts);
       * 0: fixed.
       */
      queueTargetMs: z.number().min(0).max(10_000).default(5),
      /** Refuse new calls (RESOURCE_EXHAUSTED + grpc-retry-pushback-ms) while the event loop lags more than this; 0: off. */
      shedLagMs: z.number().int().min(0).max(60_000).default(150),
      /**
       * Which server answers the Task API port: grpc-js, or (experimental) the own node:http2
       * server for ListTask/GetTaskById, relaying every other method to grpc-js on loopback.
       */
      server: z.enum(["grpc-js", "http2"]).default("http2"),
    })
    .prefault({}),
  predict: z
    .strictObject({
      /** Largest prediction result relayed. */
      maxBytes: z
        .number()
        .int()
        .min(1024)
        .default(256 * 1024 * 1024),
      /** Deadline of each GetPredictResult call to an Executor (payloads can be large). */
      callTimeoutMs: ms(30_000),
      /** GetPredictResult requests a minute per pubKey; 0 = no limit. */
      ratePerMinute: z.number().int().min(0).max(1_000_000).default(0),
      /** Prediction results relayed at once; more → RESOURCE_EXHAUSTED. Bounds relay memory. */
      maxConcurrent: z.number().int().min(1).max(10_000).default(8),
      /** Bytes of results received and not yet delivered to their clients above which new relays are refused. */
      maxBytesInFlight: z
        .number()
        .int()
        .min(1024)
        .default(512 * 1024 * 1024),
      /** A client that has not taken its whole reply this long after it was ready is cut off (RST_STREAM). */
      writeTimeoutMs: ms(30_000),
      /** Deadline of a GetPredictResult whose client sent none; 0: derived (src/config/deadlines.ts). */
      defaultDeadlineMs: z.number().int().min(0).default(0),
    })
    .refine((p) => p.defaultDeadlineMs === 0 || p.defaultDeadlineMs >= p.callTimeoutMs, {
      message: "predict.defaultDeadlineMs must be 0 (derived) or at least predict.callTimeoutMs",
      path: ["defaultDeadlineMs"],
    })
    .prefault({}),
  /** Shared cache of gateway replicas; no `url`, `cluster` or `sentinel.nodes` = in-process cache. */
  redis: z
    .strictObject({
      /** `redis://[user:pass@]host:port[/db]` or `rediss://...` (single node); "" = none. */
      url: z
        .union([z.literal(""), z.string().regex(/^rediss?:\/\//, "expected a redis:// or rediss:// URL")])
        .default(""),
      /** Redis Cluster startup nodes (`host:port`); takes precedence over `url`. */
      cluster: z.array(hostPort).default([]),
      /** Redis Sentinel: the master's name and the sentinels (`host:port`); no nodes = not used. */
      sentinel: z
        .strictObject({
          name: z.string().default(""),
          nodes: z.array(hostPort).default([]),
        })
        .prefault({})
        .refine((v) => v.nodes.length === 0 || v.name !== "", {
          message: "name: the master's name is needed with sentinel nodes",
        }),
      /** Prepended to every key, so several gateways can share one Redis. */
      keyPrefix: z.string().max(64).default("dai-gateway:"),
    })
    .prefault({}),
  cache: z
    .strictObject({
      /** How long a merged ListTask answer is served as fresh. */
      listTtlMs: ms(2000),
      /** How long a non-terminal task fetched by ID is served as fresh. */
      taskTtlMs: ms(2000),
      /** How long a Finished/Failed/Rejected task is kept (they never change). */
      terminalTtlMs: ms(600_000),
      /** Revalidate in the background once an entry is this close to its TTL (0: never ahead). */
      refreshAheadMs: z.number().int().min(0).default(500),
      /** After the TTL, serve the old answer at once (dai-cache: stale) for this long while refreshing. */
      staleGraceMs: z.number().int().min(0).default(0),
      /** When every Executor is unreachable, serve answers up to this old (dai-cache: stale). */
      maxStaleMs: z.number().int().min(0).default(60_000),
      /** Every Redis operation gives up (and the request bypasses the cache) after this long. */
      redisTimeoutMs: ms(100),
      /** A "timeEnd = now" request is fetched up to now + this, so later "now"s hit the same entry. */
      liveHorizonMs: ms(60_000),
      /** Smallest limit a cached ListTask fetch uses (a larger entry answers more limits exactly). */
      listFetchLimit: z.number().int().min(1).default(100),
      /** Largest value stored; larger answers are served but not cached. */
      maxEntryBytes: z
        .number()
        .int()
        .min(1024)
        .default(8 * 1024 * 1024),
      /** Bound of the in-process cache, in bytes. */
      memoryMaxBytes: z
        .number()
        .int()
        .min(64 * 1024)
        .default(256 * 1024 * 1024),
      /** Cross-replica fetch lease; followers wait at most `leaseWaitMs` for the leader's entry. */
      leaseMs: ms(5000),
      leaseWaitMs: z.number().int().min(0).default(1000),
      /** How often a replica reads the Executor set other replicas shared through Redis. */
      executorSyncMs: ms(1000),
    })
    .prefault({}),
  /** The HTTP/JSON API, the Executor status route and the dashboard (on `httpListen`). */
  http: z
    .strictObject({
      /** Origins allowed to call the JSON API from a browser (CORS); "*" allows any. Empty: no CORS headers. */
      corsOrigins: z.array(z.string().min(1)).default([]),
      /** Serve the dashboard at GET /. */
      dashboard: z.boolean().default(true),
      /** How often, at most, GET /v1/executors probes each Executor (health, latency, task count). */
      probeIntervalMs: ms(5000),
      // Isolation from the Task API (README "Resilience and security").
      /** HTTP connections open at once; more are refused. */
      maxConnections: z.number().int().min(1).max(1_000_000).default(512),
      /** HTTP requests handled at once; more get 503 + Retry-After. */
      maxConcurrentRequests: z.number().int().min(1).max(100_000).default(64),
      headersTimeoutMs: ms(10_000),
      requestTimeoutMs: ms(30_000),
      keepAliveTimeoutMs: ms(5000),
      /** While the event loop lags more than this, HTTP requests (but /healthz and /readyz) get 503 at once; 0: off. */
      shedLagMs: z.number().int().min(0).max(60_000).default(200),
      /** GET /metrics renders at most once per this interval (one render at a time); scrapes in between get that rendering; 0: every scrape renders. */
      metricsRenderMs: z.number().int().min(0).max(60_000).default(1000),
    })
    .prefault({}),
  /** The v3 generation's own doors (README "Two generations"); both off when "". */
  v3: z
    .strictObject({
      /** A second gRPC listener for v3 clients: requests without layout evidence read as v3. */
      listen: optionalListen.default(""),
      /** The v3 HTTP/JSON API (PaddleDTX main's grpc-gateway routes and rendering). */
      httpListen: optionalListen.default(""),
      /** Echo the request's Origin in Access-Control-Allow-Origin, as v3's `httpserver.allowCros`. */
      allowCors: z.boolean().default(false),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    })
    .prefault({}),
  runtime: z
    .strictObject({
      /**
       * V8's old-generation growth, percent (--heap-growing-percent), set at start: lower
       * is shorter, more frequent mark-compact pauses (src/core/runtime.ts); 0: V8's own.
       */
      heapGrowingPercent: z.number().int().min(0).max(1000).default(50),
    })
    .prefault({}),
  health: z
    .strictObject({
      /** On SIGTERM, how long to keep serving while saying NOT_SERVING, so balancers stop routing first. */
      drainDelayMs: z.number().int().min(0).max(120_000).default(0),
    })
    .prefault({}),
});

export type GatewayConfig = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
