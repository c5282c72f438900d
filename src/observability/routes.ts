/** The operator endpoints on `httpListen`: /healthz, /readyz, /metrics. */
import type { HttpServer } from "../http/server";
import type { GatewayHealth } from "./health";
import type { GatewayMetrics } from "./metrics";

export function addOperatorRoutes(http: HttpServer, health: GatewayHealth, metrics: GatewayMetrics): void {
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
    const { contentType, body } = await metrics.render();
    return reply.type(contentType).send(body);
  });
}
