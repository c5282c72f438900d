/**
 * GET / (the dashboard page), GET /dashboard.js (its script, compiled from app.ts by
 * `npm run build`) and GET /dashboard.css, under a strict Content-Security-Policy: no
 * inline script or style, nothing from another origin.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { HttpServer } from "../server";
import { DASHBOARD_CSS, DASHBOARD_HTML } from "./page";

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The browser script: app.js next to this file (dist/src/http/dashboard/, written by
 * tsconfig.dashboard.json); when running from the TypeScript sources (tests, ts-node),
 * app.ts transpiled in memory with the TypeScript compiler the checkout already has.
 */
export function dashboardScript(dir = __dirname): string {
  const built = path.join(dir, "app.js");
  if (existsSync(built)) return readFileSync(built, "utf8");
  const source = path.join(dir, "app.ts");
  if (existsSync(source)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ts = require("typescript") as typeof import("typescript");
    return ts.transpileModule(readFileSync(source, "utf8"), {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 },
      fileName: "app.ts",
    }).outputText;
  }
  throw new Error(`dashboard script missing: no ${built} (run npm run build)`);
}

export function registerDashboard(server: HttpServer): void {
  // A missing script must not stop the gateway: the page then says why it is blank.
  let script: [number, string];
  try {
    script = [200, dashboardScript()];
  } catch (err) {
    script = [500, `document.body.textContent = ${JSON.stringify((err as Error).message)};`];
  }
  const files: [string, number, string, Buffer][] = [
    ["/", 200, "text/html; charset=utf-8", Buffer.from(DASHBOARD_HTML, "utf8")],
    ["/dashboard.js", script[0], "text/javascript; charset=utf-8", Buffer.from(script[1], "utf8")],
    ["/dashboard.css", 200, "text/css; charset=utf-8", Buffer.from(DASHBOARD_CSS, "utf8")],
  ];
  for (const [route, status, type, body] of files) {
    server.app.get(route, (_req, reply) =>
      reply
        .code(status)
        .headers({
          "content-type": type,
          "content-security-policy": DASHBOARD_CSP,
          "x-content-type-options": "nosniff",
          "cache-control": "no-cache",
        })
        .send(body),
    );
  }
}
