/**
 * Issue 14, case 7: no HTTP traffic can delay the Task API. A separate process keeps
 * 1,000 connections asking GET /metrics as fast as it is answered, while a gRPC client
 * calls ListTask with a 2 s deadline: every call must meet it. Before, every scrape
 * rendered every series, so scrapes took the event loop from the Task API.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import type { RunningGateway } from "../../src/gateway";
import { listAllBody } from "../helpers/requests";
import { gatewayFor, rawCall, rawClient } from "../helpers/resilience";

/** 1,000 connections, each asking /metrics again as soon as it has an answer (or an error). */
const SCRAPERS = `
const http = require("http");
const port = Number(process.argv[1]);
let answered = 0;
function go(agent) {
  const req = http.get({ host: "127.0.0.1", port, path: "/metrics", agent }, (res) => {
    res.resume();
    res.on("end", () => { answered++; go(agent); });
  });
  req.on("error", () => setTimeout(() => go(agent), 50));
}
for (let i = 0; i < 1000; i++) go(new http.Agent({ keepAlive: true, maxSockets: 1 }));
setInterval(() => console.log(String(answered)), 500);
`;

describe("1,000 concurrent /metrics connections (case 7)", () => {
  let sim: SimCluster;
  let gw: RunningGateway;
  let scrapers: ChildProcess | undefined;
  beforeAll(async () => {
    sim = await startSimCluster({ executors: 8, seed: 7, trainingTasks: 40 });
    gw = await gatewayFor(sim, { executors: { callTimeoutMs: 1500 }, http: { shedLagMs: 50 } });
  });
  afterAll(async () => {
    scrapers?.kill();
    await gw.stop();
    await sim.stop();
  });

  test("gRPC calls meet their deadlines while scrapes go on", async () => {
    const client = rawClient(gw.grpcPort);
    // Series for every Executor and method, as a busy gateway has.
    for (let i = 0; i < 20; i++) {
      await rawCall(client, "ListTask", listAllBody(Buffer.alloc(0)), {
        deadlineMs: 5000,
        metadata: { "dai-cache-control": "no-cache" },
      });
    }
    scrapers = spawn(process.execPath, ["-e", SCRAPERS, String(gw.httpPort)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let scraped = 0;
    scrapers.stdout!.on("data", (b: Buffer) => (scraped = Number(b.toString().trim().split("\n").pop())));
    await once(scrapers.stdout!, "data");

    const results: { ok: boolean; ms: number; code?: number }[] = [];
    const started = Date.now();
    while (Date.now() - started < 8000) {
      const body = listAllBody(Buffer.alloc(0));
      const r = await rawCall(client, "ListTask", body, { deadlineMs: 2000 });
      results.push({ ok: r.err === undefined, ms: r.ms, code: r.err?.code });
    }
    const failed = results.filter((r) => !r.ok);
    // The scrapers were really at it (a cheap /metrics answers them fast).
    expect(scraped).toBeGreaterThan(1000);
    expect(results.length).toBeGreaterThan(20);
    expect({ calls: results.length, failed }).toEqual({ calls: results.length, failed: [] });
    client.close();
  }, 40_000);
});
