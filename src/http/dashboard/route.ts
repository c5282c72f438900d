/** GET /: the dashboard, one self-contained page (no build step, no network). */
import type { HttpServer } from "../server";
import { DASHBOARD_HTML } from "./page";

const CSP = [
  "default-src 'none'",
  "script-src 'unsafe-inline'",
  "style-src 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export function registerDashboard(server: HttpServer): void {
  const body = Buffer.from(DASHBOARD_HTML, "utf8");
  server.app.get("/", (_req, reply) =>
    reply
      .headers({
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": CSP,
        "x-content-type-options": "nosniff",
        "cache-control": "no-cache",
      })
      .send(body),
  );
}
