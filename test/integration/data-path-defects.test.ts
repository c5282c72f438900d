/**
 * The two defects of the old data path (issue 13), against a live gateway:
 * - an Executor that answers GetTaskById with its not-found error (UNKNOWN + an
 *   embedded XDAT0004) was probed as unhealthy by `/v1/executors`: "the Executor
 *   answered" had four drifting definitions; now one (src/upstream/outcome.ts);
 * - HTTP/JSON calls never reached `/metrics`: the call prologue was written twice and
 *   only the gRPC copy had the metrics hook; now one pipeline serves both.
 * Plus the HTTP details that came with fastify: 405 with Allow, the status-case warning.
 */
import { parseExposition, sum } from "../helpers/prometheus";
import { postJson, startPeopleCluster, type PeopleCluster } from "../helpers/people-cluster";

let c: PeopleCluster;

beforeAll(async () => {
  c = await startPeopleCluster({
    executors: 2,
    seed: 41,
    config: {
      http: { probeIntervalMs: 1 },
      // Seeds without keys: the status probe can only ask GetTaskById for an ID that does not exist.
      executors: { seeds: [] },
    },
  });
  for (const e of c.sim.executors) c.gw.registry.addSeed(e.address);
});
afterAll(async () => {
  await c?.stop();
});

async function metrics(): Promise<ReturnType<typeof parseExposition>> {
  return parseExposition(await (await fetch(`${c.httpBase}/metrics`)).text());
}

test("an Executor whose key is unknown answers the probe with not-found and is shown healthy", async () => {
  const res = await fetch(`${c.httpBase}/v1/executors`);
  const body = (await res.json()) as {
    data: {
      executors: { address: string; healthy: boolean | null; lastError: string | null; pubKey: string | null }[];
    };
  };
  expect(body.data.executors).toHaveLength(2);
  for (const e of body.data.executors) {
    expect(e.pubKey).toBeNull(); // so the probe was a GetTaskById
    expect({ address: e.address, healthy: e.healthy, lastError: e.lastError }).toEqual({
      address: e.address,
      healthy: true,
      lastError: null,
    });
  }
});

test("three POST /v1/task/list (miss, hit, hit) are counted in requests_total and cache_operations_total", async () => {
  // A key the ledger knows, so the list is answerable; the first call fills the cache.
  const key = c.sim.ledger.requesters[0]!.publicKey.toString("hex");
  const before = await metrics();
  const caches: unknown[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await postJson(c.httpBase, "/v1/task/list", { pubKey: key, timeEnd: "9223372036854775807" });
    expect(r.status).toBe(200);
    caches.push(r.body.cache);
  }
  expect(caches).toEqual(["miss", "hit", "hit"]);
  const after = await metrics();
  const delta = (name: string, where: Record<string, string>): number =>
    sum(after, name, where) - sum(before, name, where);
  expect(delta("dai_gateway_requests_total", { method: "ListTask", code: "OK" })).toBe(3);
  expect(delta("dai_gateway_cache_operations_total", { kind: "list", result: "miss" })).toBe(1);
  expect(delta("dai_gateway_cache_operations_total", { kind: "list", result: "hit" })).toBe(2);
});

test("a GET on a POST route, and HEAD /, answer 405 with Allow", async () => {
  const get = await fetch(`${c.httpBase}/v1/task/list`);
  expect(get.status).toBe(405);
  expect(get.headers.get("allow")).toMatch(/\bPOST\b/);
  expect(get.headers.get("allow")).not.toMatch(/\bGET\b/);
  const head = await fetch(`${c.httpBase}/`, { method: "HEAD" });
  expect(head.status).toBe(405);
  expect(head.headers.get("allow")).toMatch(/\bGET\b/);
  const unknown = await fetch(`${c.httpBase}/no/such/path`);
  expect(unknown.status).toBe(404);
});

test("a status filter differing from a real status only in case answers with a warning", async () => {
  const r = await postJson(c.httpBase, "/v1/task/list", { status: "finished" });
  expect(r.status).toBe(200);
  expect((r.body as { warning?: string }).warning).toMatch(/case-sensitive.*"Finished"/);
  const ok = await postJson(c.httpBase, "/v1/task/list", { status: "Finished" });
  expect((ok.body as { warning?: string }).warning).toBeUndefined();
});
