/**
 * A real Prometheus server scrapes the gateway; the numbers read back through its HTTP
 * API move as the test drives traffic. The alert rules pass promtool (syntax and unit
 * tests) and every dashboard query is valid PromQL that Prometheus evaluates.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { promtool, startPrometheus, type PrometheusServer } from "../helpers/prometheus";
import { startRig, type ObsRig } from "../helpers/obs-gateway";

jest.setTimeout(60_000);

const DEPLOY = path.join(__dirname, "..", "..", "deploy", "observability");

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what} (${String(last ?? "no match")})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("Prometheus scraping the gateway", () => {
  let rig: ObsRig;
  let prom: PrometheusServer;

  beforeAll(async () => {
    rig = await startRig({ executors: 2 });
    prom = await startPrometheus([`127.0.0.1:${rig.gw.httpPort}`]);
  });

  afterAll(async () => {
    await prom?.stop();
    await rig?.stop();
  });

  const listCalls = async (): Promise<number | undefined> => {
    const r = await prom.query('sum(dai_gateway_requests_total{method="ListTask",code="OK"})');
    return r[0] ? Number(r[0].value[1]) : undefined;
  };

  async function driveLists(n: number): Promise<void> {
    const now = BigInt(Date.now()) * 1_000_000n;
    for (let i = 0; i < n; i++) await rig.client.listTask({ pubKey: Buffer.alloc(0), timeEnd: now });
  }

  it("reads back the served-call count, and it moves with traffic", async () => {
    await driveLists(3);
    await eventually("3 ListTask calls in Prometheus", async () => ((await listCalls()) === 3 ? true : undefined));
    await driveLists(4);
    const seen = await eventually("7 ListTask calls in Prometheus", async () => {
      const v = await listCalls();
      return v === 7 ? v : undefined;
    });
    expect(seen).toBe(7);

    // Upstream calls as Prometheus sees them equal what the Executors counted.
    const executorCalls = rig.sim.executors.reduce((a, e) => a + (e.calls.ListTask ?? 0), 0);
    expect(executorCalls).toBeGreaterThan(0);
    await eventually("upstream ListTask calls in Prometheus", async () => {
      const r = await prom.query('sum(dai_gateway_upstream_requests_total{method="ListTask"})');
      return r[0] && Number(r[0].value[1]) === executorCalls ? true : undefined;
    });
    const up = await prom.query('up{job="dai-gateway"}');
    expect(up.map((s) => s.value[1])).toEqual(["1"]);
  });

  it("evaluates every dashboard query without error", async () => {
    const dash = JSON.parse(readFileSync(path.join(DEPLOY, "grafana-dashboard.json"), "utf8")) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(15);
    for (const { panel, expr } of exprs) {
      const q = expr.replaceAll("$__rate_interval", "1m").replaceAll("$job", ".*");
      await expect(prom.query(q).then(() => panel)).resolves.toBe(panel);
    }
    // And a panel over served calls actually has data now.
    const rate = await prom.query('sum by (method, code) (rate(dai_gateway_requests_total{job=~".*"}[1m]))');
    expect(rate.length).toBeGreaterThan(0);
  });
});

describe("alert rules", () => {
  it("pass promtool check rules", () => {
    const r = promtool(["check", "rules", path.join(DEPLOY, "alerts.yml")]);
    expect(r.output).toContain("SUCCESS: 8 rules found");
    expect(r.status).toBe(0);
  });

  it("fire as specified in the promtool unit tests", () => {
    const r = promtool(["test", "rules", path.join(DEPLOY, "alerts.test.yml")]);
    expect(r.output).toContain("SUCCESS");
    expect(r.status).toBe(0);
  });
});
