/** package.json `main` names the build of a module that exists and exports the gateway. */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

const ROOT = path.join(__dirname, "..", "..");

test("main and types point at the build of src/index.ts, which exports startGateway", async () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { main: string; types: string };
  const source = pkg.main.replace(/^dist\//, "").replace(/\.js$/, ".ts");
  expect(existsSync(path.join(ROOT, source))).toBe(true);
  expect(pkg.types).toBe(pkg.main.replace(/\.js$/, ".d.ts"));
  const entry = (await import(path.join(ROOT, source))) as Record<string, unknown>;
  expect(typeof entry.startGateway).toBe("function");
  expect(typeof entry.parseConfig).toBe("function");
});
