/**
 * The container image, without a container engine: the Dockerfile parsed with dockerfile-ast
 * and checked for what matters, the build context filtered by .dockerignore as Docker does,
 * and the runtime stage's filesystem assembled from its COPY lines (production dependencies
 * only) and started with its ENTRYPOINT + CMD; the HEALTHCHECK command then runs against it.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { parseConfig } from "../../src/config/load";
import { dockerignore, execForm, flags, healthcheckCommand, parseDockerfile, type Stage } from "../helpers/dockerfile";

const ROOT = path.join(__dirname, "..", "..");
const { stages } = parseDockerfile(path.join(ROOT, "Dockerfile"));
const runtime = stages[stages.length - 1]!;
const build = stages.find((s) => s.name === "build")!;

const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
const one = (stage: Stage, keyword: string) => {
  const all = of(stage, keyword);
  if (all.length !== 1) throw new Error(`expected one ${keyword} in stage ${stage.name}, found ${all.length}`);
  return all[0]!;
};
const runs = (stage: Stage) => of(stage, "RUN").map((i) => i.getRawArgumentsContent() ?? "");
const portOf = (listen: string) => Number(listen.slice(listen.lastIndexOf(":") + 1));

/** COPY instructions as {from, sources, dest}. */
function copies(stage: Stage) {
  return of(stage, "COPY").map((ins) => {
    const from = flags(ins).from ?? null;
    const paths = ins.getArguments().map((a) => a.getValue());
    return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1]! };
  });
}

describe("Dockerfile", () => {
  test("multi-stage: a build stage with dev dependencies, a runtime stage with production ones only", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build).toBeDefined();
    expect(runtime.name).toBe("runtime");
    const buildRuns = runs(build).join("\n");
    expect(buildRuns).toMatch(/\bnpm ci\b/);
    expect(buildRuns).not.toMatch(/--omit=dev|--production/);
    expect(buildRuns).toMatch(/\bnpm run build\b/);
    const runtimeRuns = runs(runtime).join("\n");
    expect(runtimeRuns).toMatch(/\bnpm ci\b[^\n]*--omit=dev/);
    expect(runtimeRuns).not.toMatch(/npm run build|npm install\b/);
    // Only compiled output crosses from the build stage (no dev node_modules).
    const fromBuild = copies(runtime).filter((c) => c.from !== null);
    expect(fromBuild.length).toBeGreaterThan(0);
    for (const c of fromBuild) {
      expect(c.from).toBe("build");
      for (const s of c.sources) expect(s).not.toMatch(/node_modules/);
    }
  });

  test("every base image is Node 20 slim with a fixed tag (never latest or untagged)", () => {
    for (const s of stages) {
      expect(s.image).toMatch(/^node:20[\w.-]*-slim(@sha256:[0-9a-f]{64})?$/);
      expect(s.image).not.toMatch(/:latest\b/);
    }
  });

  test("runs as a numeric non-root user, declared after every RUN", () => {
    const user = one(runtime, "USER");
    const [uid, gid] = (user.getArgumentsContent() ?? "").split(":");
    expect(Number(uid)).toBeGreaterThan(0);
    expect(Number(gid)).toBeGreaterThan(0);
    const idx = runtime.instructions.indexOf(user);
    expect(runtime.instructions.slice(idx).some((i) => i.getKeyword() === "RUN")).toBe(false);
  });

  test("exposes the gateway's default gRPC and HTTP ports, which the baked-in config uses", () => {
    const exposed = of(runtime, "EXPOSE")
      .flatMap((i) => i.getArguments().map((a) => a.getValue()))
      .map((p) => Number(p.replace(/\/tcp$/, "")))
      .sort();
    const defaults = parseConfig({});
    const baked = parseConfig(parseYaml(readFileSync(path.join(ROOT, "config", "container.yaml"), "utf8")));
    const expected = [portOf(defaults.listen), portOf(defaults.httpListen)].sort();
    expect(exposed).toEqual(expected);
    expect([portOf(baked.listen), portOf(baked.httpListen)].sort()).toEqual(expected);
  });

  test("ENTRYPOINT/CMD start the gateway on the config file the image ships", () => {
    expect(execForm(one(runtime, "ENTRYPOINT"))).toEqual(["node", "bin/dai-gateway.js"]);
    const cmd = execForm(one(runtime, "CMD"))!;
    expect(cmd.slice(0, 2)).toEqual(["serve", "--config"]);
    const target = copies(runtime).find((c) => c.dest === cmd[2]);
    expect(target?.sources).toEqual(["config/container.yaml"]);
  });

  test("HEALTHCHECK probes /healthz on the HTTP port with node (no curl in slim images)", () => {
    const hc = one(runtime, "HEALTHCHECK");
    const opts = flags(hc);
    expect(opts.interval).toMatch(/^\d+s$/);
    expect(opts.timeout).toMatch(/^\d+s$/);
    expect(opts.retries).toMatch(/^\d+$/);
    const cmd = healthcheckCommand(hc)!;
    expect(cmd[0]).toBe("node");
    expect(cmd.join(" ")).toContain(`http://127.0.0.1:${portOf(parseConfig({}).httpListen)}/healthz`);
  });

  test("nothing but the runtime stage's own files: no ADD, no package managers at run time", () => {
    for (const s of stages) expect(of(s, "ADD")).toHaveLength(0);
    expect(runs(runtime).join("\n")).not.toMatch(/apt-get|apk |curl |wget /);
  });
});

describe(".dockerignore", () => {
  const included = dockerignore(path.join(ROOT, ".dockerignore"));

  test("every file the Dockerfile copies from the context is in the context", () => {
    const sources = stages.flatMap((s) =>
      copies(s)
        .filter((c) => c.from === null)
        .flatMap((c) => c.sources),
    );
    expect(sources.length).toBeGreaterThan(4);
    for (const src of sources) {
      const abs = path.join(ROOT, src);
      expect(existsSync(abs)).toBe(true);
      const files = statSync(abs).isDirectory()
        ? readdirSync(abs, { recursive: true, withFileTypes: true })
            .filter((d) => d.isFile())
            .map((d) => path.relative(ROOT, path.join(d.parentPath, d.name)))
        : [src];
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) expect([f, included(f)]).toEqual([f, true]);
    }
  });

  test("keeps local trees, tests, tools and secrets out", () => {
    for (const p of [
      "node_modules/yaml/package.json",
      ".git/HEAD",
      "dist/src/gateway.js",
      ".tools/bin/helm",
      "test/unit/wire-fixtures.test.ts",
      "helm/dai-gateway/Chart.yaml",
      "coverage/lcov.info",
      "src/.env",
      "config/server.key",
      "Dockerfile",
    ]) {
      expect([p, included(p)]).toEqual([p, false]);
    }
  });
});

describe("the runtime stage, assembled and started", () => {
  let fsRoot: string;
  let child: ChildProcess | undefined;

  /** Maps an absolute path inside the image to the assembled tree. */
  const inImage = (p: string) => path.join(fsRoot, p);

  const inContext = dockerignore(path.join(ROOT, ".dockerignore"));
  const included = (rel: string) => rel === "" || inContext(rel);

  beforeAll(() => {
    fsRoot = mkdtempSync(path.join(os.tmpdir(), "dai-image-"));
    // Build stage: `npm run build` of the context (the project's own dist/ when present).
    if (!existsSync(path.join(ROOT, "dist", "src", "cli", "main.js"))) {
      execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "ignore" });
    }
    const buildWorkdir = one(build, "WORKDIR").getArgumentsContent()!;
    let workdir = "/";
    for (const ins of runtime.instructions) {
      if (ins.getKeyword() === "WORKDIR") {
        workdir = path.posix.resolve(workdir, ins.getArgumentsContent()!);
        mkdirSync(inImage(workdir), { recursive: true });
      }
      if (ins.getKeyword() === "RUN" && /\bnpm ci\b/.test(ins.getRawArgumentsContent() ?? "")) {
        // `npm ci --omit=dev`: the lock file's non-dev packages, nothing else.
        const lock = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8"));
        for (const [key, meta] of Object.entries(
          lock.packages as Record<string, { dev?: boolean; devOptional?: boolean }>,
        )) {
          if (!key.startsWith("node_modules/") || meta.dev || meta.devOptional) continue;
          if (key.slice("node_modules/".length).includes("/node_modules/")) continue; // comes with its parent
          cpSync(path.join(ROOT, key), inImage(path.posix.join(workdir, key)), { recursive: true, dereference: true });
        }
      }
      if (ins.getKeyword() !== "COPY") continue;
      const [c] = copies({ ...runtime, instructions: [ins] });
      for (const src of c!.sources) {
        const from =
          c!.from === "build" ? path.join(ROOT, path.posix.relative(buildWorkdir, src)) : path.join(ROOT, src);
        const dest = path.posix.resolve(workdir, c!.dest);
        const target = c!.dest.endsWith("/") ? path.posix.join(dest, path.basename(src)) : dest;
        mkdirSync(path.dirname(inImage(target)), { recursive: true });
        cpSync(from, inImage(target), {
          recursive: true,
          filter: (f) => c!.from !== null || included(path.relative(ROOT, f)) || f === ROOT,
        });
      }
    }
  }, 120_000);

  afterAll(() => {
    child?.kill("SIGKILL");
    rmSync(fsRoot, { recursive: true, force: true });
  });

  test("ENTRYPOINT + CMD serve; HEALTHCHECK passes while it runs and fails after; SIGTERM exits 0", async () => {
    const workdir = of(runtime, "WORKDIR").at(-1)!.getArgumentsContent()!;
    const [exe, ...entry] = execForm(one(runtime, "ENTRYPOINT"))!;
    const cmd = execForm(one(runtime, "CMD"))!.map((a) => (a.startsWith("/") ? inImage(a) : a));
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, TMPDIR: os.tmpdir() };
    for (const e of of(runtime, "ENV")) {
      for (const m of (e.getArgumentsContent() ?? "").matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2]!;
    }
    expect(env.NODE_ENV).toBe("production");
    env.DAI_GATEWAY_LISTEN = "127.0.0.1:0";
    env.DAI_GATEWAY_HTTP_LISTEN = "127.0.0.1:0";
    expect(exe).toBe("node");
    // --preserve-symlinks is not needed: the tree holds real copies, so a devDependency the
    // code might require is simply absent, as in the image.
    child = spawn(process.execPath, [...entry, ...cmd], {
      cwd: inImage(workdir),
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const httpPort = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${out}\n${err}`)), 30_000);
      child!.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /"http":"127\.0\.0\.1:(\d+)"/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child!.on("exit", (code) => reject(new Error(`gateway exited ${code}:\n${out}\n${err}`)));
    });

    const [hcExe, ...hcArgs] = healthcheckCommand(one(runtime, "HEALTHCHECK"))!;
    expect(hcExe).toBe("node");
    const healthcheck = () =>
      spawnSync(process.execPath, hcArgs, {
        env: { HEALTHCHECK_URL: `http://127.0.0.1:${httpPort}/healthz` },
        timeout: 10_000,
      }).status;
    expect(healthcheck()).toBe(0);

    const exit = new Promise<number | null>((resolve) => child!.on("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exit).toBe(0);
    child = undefined;
    expect(healthcheck()).toBe(1);
  }, 60_000);
});
