/** The dashboard's three files under a strict CSP, and where its script comes from. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DASHBOARD_CSP, dashboardScript, registerDashboard } from "../../src/http/dashboard/route";
import { DASHBOARD_CSS, DASHBOARD_HTML } from "../../src/http/dashboard/page";
import { HttpServer } from "../../src/http/server";

describe("dashboardScript", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "dash-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("the built app.js wins over the source", () => {
    writeFileSync(path.join(dir, "app.js"), "built();");
    writeFileSync(path.join(dir, "app.ts"), "const x: number = 1;");
    expect(dashboardScript(dir)).toBe("built();");
  });

  test("from the sources: app.ts transpiled (types gone, ES modules kept)", () => {
    writeFileSync(
      path.join(dir, "app.ts"),
      "export const n: number = 1;\nfunction f(a: string): string { return a; }\n",
    );
    const js = dashboardScript(dir);
    expect(js).toContain("export const n = 1;");
    expect(js).not.toContain(": number");
    expect(js).not.toContain("require(");
  });

  test("neither: an error naming the missing file and the fix", () => {
    expect(() => dashboardScript(dir)).toThrow(
      `dashboard script missing: no ${path.join(dir, "app.js")} (run npm run build)`,
    );
  });
});

describe("dashboard routes", () => {
  let s: HttpServer;
  let base = "";
  beforeAll(async () => {
    s = await HttpServer.create({ maxRequestBytes: 1024, corsOrigins: [] });
    registerDashboard(s);
    base = `http://127.0.0.1:${await s.listen("127.0.0.1", 0)}`;
  });
  afterAll(async () => {
    await s.close();
  });

  test.each([
    ["/", "text/html; charset=utf-8", DASHBOARD_HTML],
    ["/dashboard.css", "text/css; charset=utf-8", DASHBOARD_CSS],
  ])("GET %s: the page's bytes under the CSP", async (route, type, body) => {
    const res = await fetch(base + route);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(type);
    expect(res.headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(await res.text()).toBe(body);
  });

  test("GET /dashboard.js: the script, served as JavaScript under the CSP", async () => {
    const res = await fetch(`${base}/dashboard.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(res.headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
    expect(await res.text()).toBe(dashboardScript(path.join(__dirname, "../../src/http/dashboard")));
  });

  test("the CSP allows nothing inline and nothing from another origin", () => {
    const directives = Object.fromEntries(
      DASHBOARD_CSP.split("; ").map((d) => [d.split(" ")[0], d.split(" ").slice(1)]),
    );
    expect(directives["default-src"]).toEqual(["'none'"]);
    expect(directives["frame-ancestors"]).toEqual(["'none'"]);
    for (const d of ["script-src", "style-src", "connect-src"]) expect(directives[d]).toEqual(["'self'"]);
    expect(DASHBOARD_CSP).not.toMatch(/unsafe-inline|unsafe-eval|\*|https?:/);
  });

  test("the page loads its script and style from this origin only (no inline script)", () => {
    expect(DASHBOARD_HTML).toContain('src="/dashboard.js"');
    expect(DASHBOARD_HTML).toContain('href="/dashboard.css"');
    expect(DASHBOARD_HTML).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(DASHBOARD_HTML).not.toMatch(/<style|\sstyle=/);
  });
});
