/** Makes sure `dist/` is built from the current sources before a test spawns bin/dai-gateway.js. */
import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";

export const ROOT = path.join(__dirname, "..", "..");
export const BIN = path.join(ROOT, "bin", "dai-gateway.js");

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds with tsc when dist is missing or older than src (CI builds first, so this is usually a no-op). */
export function ensureBuilt(): void {
  const built = path.join(ROOT, "dist", "src", "cli", "main.js");
  let builtAt = 0;
  try {
    builtAt = statSync(built).mtimeMs;
  } catch {
    builtAt = 0;
  }
  if (builtAt >= newestMtime(path.join(ROOT, "src"))) return;
  for (const project of ["tsconfig.build.json", "tsconfig.dashboard.json"])
    execFileSync(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", project], {
      cwd: ROOT,
      stdio: "inherit",
    });
}
