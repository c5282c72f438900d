import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { ConfigError, configKeyPaths, envNameFor, loadConfig, parseConfig } from "../../src/config/load";

const ROOT = path.join(__dirname, "..", "..");
const KEY =
  "60ca7824ea4ec19b66876669547cef74fd981168316c2c2c0dc45623c75988a111ae2328dc1918f820581268996db281371c378fe8a48e86b19b2ed0d387f548";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "dai-config-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("config", () => {
  test("defaults match the issue's contract", () => {
    const c = loadConfig(undefined, {});
    expect(c.listen).toBe("0.0.0.0:8184");
    expect(c.httpListen).toBe("0.0.0.0:9184");
    expect(c.executors).toMatchObject({ seeds: [], discoveryAllow: [], maxExecutors: 256, callTimeoutMs: 3000 });
    expect(c.executors.concurrency).toBe(0);
    expect(c.executors.maxUpstreamCalls).toBe(4096);
    expect(c.api.maxListTasks).toBe(10_000);
  });

  test("file values, then environment overrides", () => {
    const f = file(
      "ok.yaml",
      `listen: 127.0.0.1:7000
executors:
  seeds: ["10.0.0.1:8184", { address: "10.0.0.2:8184", pubKey: "${KEY}" }]
  callTimeoutMs: 500
api:
  maxListTasks: 100
`,
    );
    const c = loadConfig(f, {
      DAI_GATEWAY_EXECUTORS__CALL_TIMEOUT_MS: "750",
      DAI_GATEWAY_EXECUTORS__DISCOVERY_ALLOW: "[10.0.0.0/8, '*.dai.svc:8184']",
      DAI_GATEWAY_LOG__LEVEL: "warn",
      UNRELATED: "x",
    });
    expect(c.listen).toBe("127.0.0.1:7000");
    expect(c.executors.seeds).toEqual(["10.0.0.1:8184", { address: "10.0.0.2:8184", pubKey: KEY }]);
    expect(c.executors.callTimeoutMs).toBe(750);
    expect(c.executors.discoveryAllow).toEqual(["10.0.0.0/8", "*.dai.svc:8184"]);
    expect(c.api.maxListTasks).toBe(100);
    expect(c.log.level).toBe("warn");
  });

  test("env names follow the documented rule", () => {
    expect(envNameFor(["executors", "callTimeoutMs"])).toBe("DAI_GATEWAY_EXECUTORS__CALL_TIMEOUT_MS");
    expect(envNameFor(["httpListen"])).toBe("DAI_GATEWAY_HTTP_LISTEN");
  });

  test.each([
    [{ executors: { callTimeoutMs: -1 } }, "executors.callTimeoutMs"],
    [{ executors: { maxExecutors: "many" } }, "executors.maxExecutors"],
    [{ executors: { seeds: ["10.0.0.1"] } }, "executors.seeds.0"],
    [{ executors: { seeds: [{ address: "10.0.0.1:1", pubKey: "abcd" }] } }, "executors.seeds.0.pubKey"],
    [{ executors: { seeds: [5] } }, "executors.seeds.0"],
    [{ executors: { discoveryAllow: ["10/8"] } }, "executors.discoveryAllow.0"],
    [{ api: { maxListTasks: 0 } }, "api.maxListTasks"],
    [{ listen: "8184" }, "listen"],
    [{ log: { level: "loud" } }, "log.level"],
  ])("an invalid value names its key: %j", (input, key) => {
    expect(configError(() => parseConfig(input))).toContain(`${key}:`);
  });

  test("unknown keys are errors that name the key", () => {
    expect(configError(() => parseConfig({ executors: { seed: [] } }))).toMatch(/executors.*seed/);
    expect(configError(() => parseConfig({ lissen: "x" }))).toContain("lissen");
    expect(configError(() => parseConfig({ executors: { seeds: [5] } }))).toContain('expected "host:port" or');
  });

  test("environment errors name the variable", () => {
    expect(configError(() => loadConfig(undefined, { DAI_GATEWAY_EXECUTORS__TIMEOUT: "1" }))).toContain(
      "DAI_GATEWAY_EXECUTORS__TIMEOUT",
    );
    expect(configError(() => loadConfig(undefined, { DAI_GATEWAY_API__MAX_LIST_TASKS: "lots" }))).toContain(
      "api.maxListTasks",
    );
    expect(configError(() => loadConfig(undefined, { DAI_GATEWAY_EXECUTORS__SEEDS: "[a" }))).toContain(
      "DAI_GATEWAY_EXECUTORS__SEEDS",
    );
  });

  test("file problems are reported with the file name", () => {
    expect(configError(() => loadConfig(path.join(dir, "missing.yaml"), {}))).toContain("missing.yaml");
    expect(configError(() => loadConfig(file("bad.yaml", "listen: [\n"), {}))).toContain("not valid YAML");
    expect(configError(() => loadConfig(file("list.yaml", "- a\n- b\n"), {}))).toContain("mapping");
    expect(loadConfig(file("empty.yaml", ""), {}).listen).toBe("0.0.0.0:8184");
  });

  test("the example config is valid and README documents every key", () => {
    const example = path.join(ROOT, "config", "gateway.example.yaml");
    expect(() => loadConfig(example, {})).not.toThrow();
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    const exampleKeys = JSON.stringify(parseYaml(readFileSync(example, "utf8")));
    for (const p of configKeyPaths()) {
      expect([p.join("."), readme.includes(`| \`${p.join(".")}\``)]).toEqual([p.join("."), true]);
      expect([p.join("."), exampleKeys.includes(`"${p[p.length - 1]}":`)]).toEqual([p.join("."), true]);
    }
  });
});
