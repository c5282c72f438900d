/** Go test peers (test/peers/*.go): built once per source version in GOPATH mode (no module proxy here). */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** Whether `go` runs and Debian's Go sources hold `pkg` (e.g. google.golang.org/grpc). */
export function hasGoPackage(pkg: string): boolean {
  try {
    execFileSync("go", ["version"], { stdio: "ignore" });
    return existsSync(path.join("/usr/share/gocode/src", pkg));
  } catch {
    return false;
  }
}

/** Builds test/peers/`file` (a main package) and returns the binary's path; cached by the source's hash. */
export function buildGoPeer(file: string): string {
  const text = readFileSync(path.join(__dirname, "..", "peers", file));
  const hash = createHash("sha256").update(text).digest("hex").slice(0, 12);
  const dir = path.join(os.tmpdir(), `dai-go-${path.basename(file, ".go")}-${hash}`);
  const bin = path.join(dir, "peer");
  if (existsSync(bin)) return bin;
  mkdirSync(path.join(dir, "src"), { recursive: true });
  writeFileSync(path.join(dir, "src", "main.go"), text);
  execFileSync("go", ["build", "-o", bin, "."], {
    cwd: path.join(dir, "src"),
    env: { ...process.env, GO111MODULE: "off", GOPATH: `/usr/share/gocode:${dir}`, GOFLAGS: "" },
    stdio: "pipe",
    timeout: 170_000,
  });
  return bin;
}
