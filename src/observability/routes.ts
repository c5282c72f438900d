/** The operator endpoints on `httpListen`: /healthz, /readyz, /metrics. */
import type { HttpServer } from "../http/server";
import type { GatewayHealth } from "./health";
import type { GatewayMetrics } from "./metrics";

export function addOperatorRoutes(http: HttpServer, health: GatewayHealth, metrics: GatewayMetrics): void {
  // Process alive and the event loop turning; nothing else.
  http.route("GET", "/healthz", (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
  });
  http.route("GET", "/readyz", (_req, res) => {
    const r = health.readiness();
    res
      .writeHead(r.ready ? 200 : 503, { "content-type": "application/json" })
      .end(JSON.stringify({ status: r.ready ? "ready" : "not ready", ...r }) + "\n");
  });
  http.route("GET", "/metrics", async (_req, res) => {
    const { contentType, body } = await metrics.render();
    res.writeHead(200, { "content-type": contentType }).end(body);
  });
}
