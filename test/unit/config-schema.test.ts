/** The config schema's edge cases: cross-field rules, bounds, address forms (config.test.ts covers loading). */
import { ConfigError, parseConfig } from "../../src/config/load";

const KEY = "ab".repeat(64);

function errorOf(input: unknown): string {
  try {
    parseConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("config schema: cross-field rules", () => {
  test.each([
    [{ tls: { cert: "c.pem" } }, "tls.cert and tls.key go together"],
    [{ tls: { key: "k.pem" } }, "tls.cert and tls.key go together"],
    [{ tls: { clientCa: "ca.pem" } }, "tls.clientCa needs tls.cert and tls.key"],
    [
      { predict: { callTimeoutMs: 30_000, defaultDeadlineMs: 10_000 } },
      "predict.defaultDeadlineMs must be 0 (derived) or at least predict.callTimeoutMs",
    ],
    [{ redis: { sentinel: { nodes: ["10.0.0.1:26379"] } } }, "the master's name is needed with sentinel nodes"],
  ])("%j is refused: %s", (input, message) => {
    expect(errorOf(input)).toContain(message);
  });

  test("the refusal of predict.defaultDeadlineMs names that key", () => {
    expect(errorOf({ predict: { callTimeoutMs: 30_000, defaultDeadlineMs: 1 } })).toContain(
      "predict.defaultDeadlineMs:",
    );
  });

  test.each([
    { tls: { cert: "c.pem", key: "k.pem" } },
    { tls: { cert: "c.pem", key: "k.pem", clientCa: "ca.pem" } },
    { predict: { callTimeoutMs: 30_000, defaultDeadlineMs: 0 } },
    { predict: { callTimeoutMs: 30_000, defaultDeadlineMs: 30_000 } },
    { redis: { sentinel: { name: "mymaster", nodes: ["10.0.0.1:26379", "[::1]:26379"] } } },
    { redis: { sentinel: { name: "mymaster" } } }, // a name without nodes: sentinel unused
  ])("%j is accepted", (input) => {
    expect(() => parseConfig(input)).not.toThrow();
  });
});

describe("config schema: values", () => {
  test.each([
    [{ redis: { url: "http://r:6379" } }, "redis.url"],
    [{ redis: { url: "localhost:6379" } }, "redis.url"],
    [{ redis: { cluster: ["r1"] } }, "redis.cluster.0"],
    [{ redis: { keyPrefix: "x".repeat(65) } }, "redis.keyPrefix"],
    [{ executors: { seeds: [{ address: "10.0.0.1:8184", name: "" }] } }, "executors.seeds.0.name"],
    [{ executors: { seeds: [{ address: "10.0.0.1:8184", name: "n".repeat(65) }] } }, "executors.seeds.0.name"],
    [{ executors: { seeds: [{ address: "10.0.0.1:8184", color: "red" }] } }, "executors.seeds.0"],
    [{ executors: { seeds: ["::1:8184"] } }, "executors.seeds.0"],
    [{ executors: { transport: "quic" } }, "executors.transport"],
    [{ executors: { concurrency: 1.5 } }, "executors.concurrency"],
    [{ executors: { discoveryRounds: 11 } }, "executors.discoveryRounds"],
    [{ executors: { maxResponseBytes: 1023 } }, "executors.maxResponseBytes"],
    [{ executors: { tls: [{ match: "10.0.0.0/8" }] } }, "executors.tls.0.ca"],
    [{ executors: { tls: [{ match: "", ca: "ca.pem" }] } }, "executors.tls.0.match"],
    [{ executors: { dns: { maxEntries: 0 } } }, "executors.dns.maxEntries"],
    [{ api: { maxRequestBytes: 1023 } }, "api.maxRequestBytes"],
    [{ api: { shedLagMs: 60_001 } }, "api.shedLagMs"],
    [{ cache: { memoryMaxBytes: 1024 } }, "cache.memoryMaxBytes"],
    [{ cache: { listTtlMs: 0 } }, "cache.listTtlMs"],
    [{ http: { corsOrigins: [""] } }, "http.corsOrigins.0"],
    [{ http: { dashboard: "yes" } }, "http.dashboard"],
    [{ health: { drainDelayMs: 120_001 } }, "health.drainDelayMs"],
    [{ httpListen: "0.0.0.0:70000" }, "httpListen"],
    [{ shutdownGraceMs: 0 }, "shutdownGraceMs"],
  ])("%j names %s", (input, key) => {
    expect(errorOf(input)).toContain(`${key}:`);
  });

  test.each([
    { redis: { url: "redis://user:pass@r:6379/2" } },
    { redis: { url: "rediss://r:6380" } },
    { redis: { url: "" } },
    { executors: { seeds: ["[::1]:8184", { address: "10.0.0.2:8184", pubKey: KEY.toUpperCase(), name: "b" }] } },
    { executors: { concurrency: 0, discoveryRounds: 0, hedgeDelayMs: 0, transport: "grpc-js" } },
    { executors: { tls: [{ match: "*.dai.svc:8184", ca: "ca.pem", cert: "c.pem", key: "k.pem", serverName: "x" }] } },
    { listen: "127.0.0.1:0", httpListen: "[::]:0" },
    { api: { defaultDeadlineMs: 0, shedLagMs: 0 }, http: { shedLagMs: 0, metricsRenderMs: 0 } },
  ])("%j is accepted", (input) => {
    expect(() => parseConfig(input)).not.toThrow();
  });

  test("sections left out get every default; a section given in part keeps the others", () => {
    const c = parseConfig({ cache: { listTtlMs: 5 } });
    expect(c.cache.listTtlMs).toBe(5);
    expect(c.cache.taskTtlMs).toBe(2000);
    expect(c.tls).toEqual({ cert: "", key: "", clientCa: "" });
    expect(c.redis).toEqual({ url: "", cluster: [], sentinel: { name: "", nodes: [] }, keyPrefix: "dai-gateway:" });
    expect(c.executors.dns).toMatchObject({ resolvedAllow: [], timeoutMs: 2000 });
    expect(c.executors.transport).toBe("http2");
    expect(c.http.dashboard).toBe(true);
    expect(c.health.drainDelayMs).toBe(0);
  });
});

describe("config schema: Executor address patterns outside discoveryAllow", () => {
  test.each([
    [{ executors: { tls: [{ match: "exec-*.dai.svc", ca: "ca.pem" }] } }, "executors.tls.0.match:"],
    [{ executors: { tls: [{ match: "10.0.0.0/33", ca: "ca.pem" }] } }, "executors.tls.0.match:"],
    [{ executors: { tls: [{ match: "*.dai.svc", ca: "ca.pem", cert: "c.pem" }] } }, "cert and key go together"],
    [{ executors: { dns: { resolvedAllow: ["10.0.0.0/33"] } } }, "executors.dns.resolvedAllow.0:"],
    // A host-name pattern can never match a resolved IP: every discovered name would be refused.
    [{ executors: { dns: { resolvedAllow: ["*.dai.svc"] } } }, "executors.dns.resolvedAllow.0:"],
  ])("%j is refused naming the key", (input, message) => {
    expect(errorOf(input)).toContain(message);
  });

  test("well-formed patterns are accepted", () => {
    const c = parseConfig({
      executors: {
        tls: [{ match: "*.dai.svc:8184", ca: "ca.pem", cert: "c.pem", key: "k.pem" }],
        dns: { resolvedAllow: ["10.0.0.0/8", "fd00::/8", "192.168.1.7", "[::1]:8184"] },
      },
    });
    expect(c.executors.dns.resolvedAllow).toHaveLength(4);
  });
});

describe("config schema: bounds that contradict each other", () => {
  test("circuitMaxHalfOpenAfterMs below circuitHalfOpenAfterMs is refused, naming the key", () => {
    expect(errorOf({ executors: { circuitHalfOpenAfterMs: 120_000 } })).toContain(
      "executors.circuitMaxHalfOpenAfterMs:",
    );
    expect(
      parseConfig({ executors: { circuitHalfOpenAfterMs: 60_000, circuitMaxHalfOpenAfterMs: 60_000 } }).executors
        .circuitMaxHalfOpenAfterMs,
    ).toBe(60_000);
  });
});
