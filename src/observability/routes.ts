/** The operator endpoints on `httpListen`: /healthz, /readyz, /metrics. */
import type { HttpServer } from "../http/server";
import type { GatewayHealth } from "./health";
import type { GatewayMetrics } from "./metrics";

/**
 * The exposition rendered at most once per `everyMs`, one render at a time: however many
 * scrapes arrive, the gateway serializes its series once per interval (issue 14, case 7).
 */
export class RenderedMetrics {
  private last?: { at: number; value: { contentType: string; body: string } };
  private rendering?: Promise<{ contentType: string; body: string }>;

  constructor(
    private readonly render: () => Promise<{ contentType: string; body: string }>,
    private readonly everyMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get(): Promise<{ contentType: string; body: string }> {
    if (this.last && this.now() - this.last.at < this.everyMs) return Promise.resolve(this.last.value);
    this.rendering ??= this.render()
      .then((value) => {
        this.last = { at: this.now(), value };
        return value;
      })
      .finally(() => (this.rendering = undefined));
    return this.rendering;
  }
}

export function addOperatorRoutes(
  http: HttpServer,
  health: GatewayHealth,
  metrics: GatewayMetrics,
  renderEveryMs = 1000,
): void {
  const scrapes = new RenderedMetrics(() => metrics.render(), renderEveryMs);
  // Process alive and the event loop turning; nothing else.
  http.app.get("/healthz", (_req, reply) => reply.type("text/plain").send("ok\n"));
  http.app.get("/readyz", (_req, reply) => {
    const r = health.readiness();
    return reply
      .code(r.ready ? 200 : 503)
      .type("application/json")
      .send(JSON.stringify({ status: r.ready ? "ready" : "not ready", ...r }) + "\n");
  });
  http.app.get("/metrics", async (_req, reply) => {
    const { contentType, body } = await scrapes.get();
    return reply.type(contentType).send(body);
  });
}
