/**
 * The Helm chart, checked with the real helm binary: lint --strict, render every values file,
 * validate every object against the Kubernetes schemas, and check what matters — probes on
 * endpoints the gateway really serves, the security context, ports, the checksum that rolls
 * pods, and a config.yaml (plus environment) the gateway itself accepts.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import pino from "pino";
import { parse as parseYaml } from "yaml";
import { configKeyPaths, loadConfig } from "../../src/config/load";
import { chartConfigJsonSchema, CHART_MANAGED_KEYS } from "../../src/config/json-schema";
import type { GatewayConfig } from "../../src/config/schema";
import { startGateway } from "../../src/gateway";
import { startSimCluster } from "../../src/sim/cluster";
import {
  CHART,
  findObject,
  helmTemplate,
  type K8sObject,
  renderOrThrow,
  ROOT,
  runHelm,
  unknownFields,
  validateK8s,
} from "../helpers/helm";

const CI_DIR = path.join(CHART, "ci");
const ciFiles = readdirSync(CI_DIR)
  .filter((f) => f.endsWith(".yaml"))
  .sort();
/** [label, helm values args]: the defaults and every values file under ci/. */
const cases: [string, string[]][] = [
  ["default values", []],
  ...ciFiles.map((f): [string, string[]] => [f, ["-f", path.join(CI_DIR, f)]]),
];
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const ciValues = (f: string): any => parseYaml(readFileSync(path.join(CI_DIR, f), "utf8"));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const defaults: any = parseYaml(readFileSync(path.join(CHART, "values.yaml"), "utf8"));

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "dai-chart-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function gatewayContainer(objs: K8sObject[]) {
  const dep = findObject(objs, "Deployment", "gw-dai-gateway");
  const c = dep.spec.template.spec.containers.find((x: { name: string }) => x.name === "gateway");
  if (!c) throw new Error("no gateway container");
  return { dep, c };
}

/**
 * What the gateway process would see in the pod: config.yaml from the ConfigMap and the
 * container's environment, resolved the way the kubelet does (secretKeyRef from rendered
 * Secrets or `externalSecrets`, then $(VAR) expansion of earlier variables).
 */
function podView(objs: K8sObject[], externalSecrets: Record<string, Record<string, string>> = {}) {
  const cm = findObject(objs, "ConfigMap", "gw-dai-gateway");
  const configText: string = cm.data["config.yaml"];
  const { c } = gatewayContainer(objs);
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    let value: string;
    if (e.valueFrom?.secretKeyRef) {
      const { name, key } = e.valueFrom.secretKeyRef;
      const rendered = objs.find((o) => o.kind === "Secret" && o.metadata.name === name);
      const raw = rendered ? Buffer.from(rendered.data[key], "base64").toString() : externalSecrets[name]?.[key];
      if (raw === undefined) throw new Error(`env ${e.name}: Secret ${name} key ${key} is neither rendered nor given`);
      value = raw;
    } else {
      value = (e.value as string).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v: string) => env[v] ?? m);
    }
    env[e.name] = value;
  }
  return { configText, env };
}

/**
 * Loads the pod's config with the gateway's own loader. Keys another branch adds (redis, tls)
 * may not be in the schema yet; only those top-level keys are set aside (and returned), so the
 * check becomes complete by itself once they land.
 */
function loadPodConfig(view: { configText: string; env: Record<string, string> }) {
  const known = new Set(configKeyPaths().map((p) => p[0]));
  const raw = (parseYaml(view.configText) ?? {}) as Record<string, unknown>;
  const pending: Record<string, unknown> = {};
  for (const key of CHART_MANAGED_KEYS) {
    if (key in raw && !known.has(key)) {
      pending[key] = raw[key];
      delete raw[key];
    }
  }
  const env = Object.fromEntries(
    Object.entries(view.env).filter(([k]) => {
      const top = k.startsWith("DAI_GATEWAY_") ? k.slice(12).split("__")[0]!.toLowerCase() : "";
      if (top && !known.has(top) && (CHART_MANAGED_KEYS as readonly string[]).includes(top)) {
        pending[`env:${k}`] = view.env[k];
        return false;
      }
      return true;
    }),
  );
  const file = path.join(tmp, `config-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, JSON.stringify(raw));
  const config: GatewayConfig = loadConfig(file, env);
  return { config, pending, raw: parseYaml(view.configText) as Record<string, unknown> };
}

describe("helm lint --strict", () => {
  test.each(cases)("%s", (_label, values) => {
    const r = runHelm(["lint", "--strict", CHART, ...values]);
    expect(r.stderr + r.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
    expect(r.status).toBe(0);
  });
});

describe("every values file renders to schema-valid objects", () => {
  test.each(cases)("%s", (_label, values) => {
    const objs = renderOrThrow(values);
    expect(objs.length).toBeGreaterThanOrEqual(5);
    for (const o of objs) {
      expect(() => validateK8s(o)).not.toThrow();
      expect(o.metadata.labels?.["app.kubernetes.io/instance"]).toBe("gw");
    }
    // Object names are unique per kind (a duplicate would make `helm install` fail).
    const keys = objs.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  test("no object carries a field its Kubernetes type does not have (all values files at once)", () => {
    const objs = cases.flatMap(([, values]) => renderOrThrow(values));
    // One deliberately misspelt field proves the check can fail.
    const typo = structuredClone(gatewayContainer(renderOrThrow()).dep);
    typo.spec.template.spec.containers[0].readinesProbe = typo.spec.template.spec.containers[0].readinessProbe;
    const found = unknownFields([...objs, typo]);
    const named = (i: number) => `${objs[i]?.kind ?? "typo"}/${objs[i]?.metadata.name ?? ""}`;
    expect(found.slice(0, -1).flatMap((msgs, i) => msgs.map((m) => `${named(i)}: ${m}`))).toEqual([]);
    expect(found.at(-1)!.join("\n")).toMatch(/readinesProbe/);
  }, 60_000);

  test("the schema check can fail: a broken Deployment is rejected", () => {
    const { dep } = gatewayContainer(renderOrThrow());
    const broken = structuredClone(dep);
    broken.spec.template.spec.containers[0].ports[0].containerPort = "8184x";
    expect(() => validateK8s(broken)).toThrow();
    delete broken.spec.selector;
    expect(() => validateK8s(broken)).toThrow();
  });
});

describe("the gateway Deployment", () => {
  test.each(cases)("%s: probes, security context, ports and config agree", (_label, values) => {
    const objs = renderOrThrow(values);
    const { dep, c } = gatewayContainer(objs);
    const pod = dep.spec.template.spec;

    // Probes: liveness on /healthz, readiness on /readyz, both on the HTTP port.
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(c.startupProbe.httpGet.path).toBe("/healthz");

    // Security: non-root, read-only root FS, no capabilities, RuntimeDefault seccomp.
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(pod.securityContext.seccompProfile).toEqual({ type: "RuntimeDefault" });
    expect(c.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(c.securityContext.capabilities.drop).toEqual(["ALL"]);
    expect(c.securityContext.capabilities.add).toBeUndefined();
    expect(c.securityContext.seccompProfile).toEqual({ type: "RuntimeDefault" });
    expect(pod.automountServiceAccountToken).toBe(false);
    // The only writable place is /tmp, an emptyDir.
    const tmpMount = c.volumeMounts.find((m: { mountPath: string }) => m.mountPath === "/tmp");
    const tmpVol = pod.volumes.find((v: { name: string }) => v.name === tmpMount.name);
    expect(tmpVol.emptyDir).toBeDefined();
    for (const m of c.volumeMounts) if (m.mountPath !== "/tmp") expect(m.readOnly).toBe(true);

    // Ports: container ports = config listen addresses = Service targets.
    const { config } = loadPodConfig(podView(objs, { "redis-auth": { password: "s3cret" } }));
    const portOf = (name: string) => c.ports.find((p: { name: string }) => p.name === name).containerPort;
    expect(config.listen).toBe(`0.0.0.0:${portOf("grpc")}`);
    expect(config.httpListen).toBe(`0.0.0.0:${portOf("http")}`);
    const svc = findObject(objs, "Service", "gw-dai-gateway");
    expect(svc.spec.ports.map((p: { targetPort: string }) => p.targetPort).sort()).toEqual(["grpc", "http"]);
    for (const [k, v] of Object.entries(svc.spec.selector))
      expect(dep.spec.template.metadata.labels).toHaveProperty([k], v);
    expect(dep.spec.selector.matchLabels).toEqual(svc.spec.selector);

    // The container reads the mounted ConfigMap.
    expect(c.args).toEqual(["serve", "--config", "/etc/dai-gateway/config.yaml"]);
    const cfgMount = c.volumeMounts.find((m: { mountPath: string }) => m.mountPath === "/etc/dai-gateway");
    const cfgVol = pod.volumes.find((v: { name: string }) => v.name === cfgMount.name);
    expect(cfgVol.configMap.name).toBe(findObject(objs, "ConfigMap", "gw-dai-gateway").metadata.name);

    // No image is ever `latest` or untagged.
    for (const ctr of objs.flatMap((o) => o.spec?.template?.spec?.containers ?? [])) {
      expect(ctr.image).toMatch(/^[^:@]+(:[^:@]+|@sha256:[0-9a-f]{64})$/);
      expect(ctr.image).not.toMatch(/:latest$/);
    }
  });

  test("values passed in `config` reach config.yaml and the gateway accepts them", () => {
    const file = "redis-cluster-values.yaml";
    const objs = renderOrThrow(["-f", path.join(CI_DIR, file)]);
    const { config } = loadPodConfig(podView(objs));
    const v = ciValues(file);
    expect(config.executors.seeds).toEqual(v.config.executors.seeds);
    expect(config.executors.discoveryAllow).toEqual(v.config.executors.discoveryAllow);
    expect(config.executors.callTimeoutMs).toBe(v.config.executors.callTimeoutMs);
    expect(config.api.maxListTasks).toBe(v.config.api.maxListTasks);
    expect(config.log.level).toBe(v.config.log.level);
    expect(gatewayContainer(objs).dep.spec.replicas).toBe(v.replicaCount);
  });

  test("the rendered probes answer 200 on a gateway started from the rendered config", async () => {
    // A real Executor to seed, so the gateway has something to be ready for.
    const sim = await startSimCluster({ executors: 2, seed: 7 });
    const seed = sim.executors[0]!.address;
    const objs = renderOrThrow(["--set-json", `config.executors.seeds=${JSON.stringify([seed])}`]);
    const view = podView(objs);
    const { c } = gatewayContainer(objs);
    // Same file and environment as the pod, with loopback ports instead of 8184/9184.
    const env = { ...view.env, DAI_GATEWAY_LISTEN: "127.0.0.1:0", DAI_GATEWAY_HTTP_LISTEN: "127.0.0.1:0" };
    const { config } = loadPodConfig({ configText: view.configText, env });
    expect(config.executors.seeds).toEqual([seed]);
    const gw = await startGateway(config, pino({ level: "silent" }));
    const get = (p: string) =>
      new Promise<number>((resolve, reject) => {
        http
          .get({ host: "127.0.0.1", port: gw.httpPort, path: p }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on("error", reject);
      });
    try {
      for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
        expect([probe.httpGet.path, await get(probe.httpGet.path)]).toEqual([probe.httpGet.path, 200]);
      }
      expect(await get("/no-such-path")).toBe(404); // the probe check can fail
    } finally {
      await gw.stop();
      await sim.stop();
    }
  });

  test("a config change changes the checksum annotation (pods roll); other changes do not", () => {
    const sum = (values: string[]) =>
      gatewayContainer(renderOrThrow(values)).dep.spec.template.metadata.annotations["checksum/config"] as string;
    const base = sum([]);
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(sum([])).toBe(base);
    expect(sum(["--set", "replicaCount=5"])).toBe(base);
    expect(sum(["--set", "config.log.level=debug"])).not.toBe(base);
    expect(sum(["--set", "config.executors.callTimeoutMs=1234"])).not.toBe(base);
    expect(sum(["--set", "ports.http=9200"])).not.toBe(base);
    const secretSum = (values: string[]) =>
      gatewayContainer(renderOrThrow(values)).dep.spec.template.metadata.annotations["checksum/secret"] as string;
    const trial = ["--set", "redisTrial.enabled=true"];
    expect(secretSum([...trial, "--set", "redis.password.value=a1"])).not.toBe(
      secretSum([...trial, "--set", "redis.password.value=b2"]),
    );
  });
});

describe("default values", () => {
  test("two replicas, PDB, no autoscaler, no optional objects, no Secret", () => {
    const objs = renderOrThrow();
    const kinds = objs.map((o) => o.kind).sort();
    expect(kinds).toEqual(["ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"]);
    const { dep } = gatewayContainer(objs);
    expect(dep.spec.replicas).toBe(defaults.replicaCount);
    // Rolling updates never go below the wanted count; the PDB keeps all but one up.
    expect(dep.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    const pdb = findObject(objs, "PodDisruptionBudget");
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec.selector.matchLabels).toEqual(dep.spec.selector.matchLabels);
    const { config, raw } = loadPodConfig(podView(objs));
    expect(raw.redis).toBeUndefined();
    expect(config.executors.seeds).toEqual([]);
  });
});

describe("the v3 generation's ports", () => {
  test("off by default; ports.v3Grpc / ports.v3Http reach config.yaml, the container and the Service", () => {
    const plain = renderOrThrow();
    expect(loadPodConfig(podView(plain)).config.v3).toEqual({ listen: "", httpListen: "", allowCors: false });
    expect(findObject(plain, "Service").spec.ports.map((p: { name: string }) => p.name)).toEqual(["grpc", "http"]);

    const objs = renderOrThrow([
      "--set",
      "ports.v3Grpc=8185",
      "--set",
      "ports.v3Http=8013",
      "--set",
      "config.v3.allowCors=true",
    ]);
    const { config } = loadPodConfig(podView(objs));
    expect(config.v3).toEqual({ listen: "0.0.0.0:8185", httpListen: "0.0.0.0:8013", allowCors: true });
    const ports = gatewayContainer(objs).c.ports.map((p: { name: string; containerPort: number }) => [
      p.name,
      p.containerPort,
    ]);
    expect(ports).toEqual([
      ["grpc", 8184],
      ["http", 9184],
      ["v3-grpc", 8185],
      ["v3-http", 8013],
    ]);
    const svc = findObject(objs, "Service").spec.ports.map((p: { name: string; port: number; targetPort: string }) => [
      p.name,
      p.port,
      p.targetPort,
    ]);
    expect(svc).toEqual([
      ["grpc", 8184, "grpc"],
      ["http", 9184, "http"],
      ["v3-grpc", 8185, "v3-grpc"],
      ["v3-http", 8013, "v3-http"],
    ]);
  });
});

describe("autoscaling and monitoring", () => {
  const file = "autoscaling-values.yaml";
  const v = ciValues(file);
  let objs: K8sObject[];
  beforeAll(() => {
    objs = renderOrThrow(["-f", path.join(CI_DIR, file)]);
  });

  test("HPA scales the Deployment within the configured bounds; Deployment leaves replicas to it", () => {
    const hpa = findObject(objs, "HorizontalPodAutoscaler");
    const { dep } = gatewayContainer(objs);
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: dep.metadata.name });
    expect(hpa.spec.minReplicas).toBe(v.autoscaling.minReplicas);
    expect(hpa.spec.maxReplicas).toBe(v.autoscaling.maxReplicas);
    const targets = Object.fromEntries(
      hpa.spec.metrics.map((m: { resource: { name: string; target: { averageUtilization: number } } }) => [
        m.resource.name,
        m.resource.target.averageUtilization,
      ]),
    );
    expect(targets).toEqual({
      cpu: v.autoscaling.targetCPUUtilizationPercentage,
      memory: v.autoscaling.targetMemoryUtilizationPercentage,
    });
    expect(dep.spec.replicas).toBeUndefined();
    expect(findObject(objs, "PodDisruptionBudget").spec.minAvailable).toBe(v.podDisruptionBudget.minAvailable);
  });

  test("ServiceMonitor scrapes /metrics on the Service's HTTP port", () => {
    const sm = findObject(objs, "ServiceMonitor");
    const svc = findObject(objs, "Service", "gw-dai-gateway");
    for (const [k, val] of Object.entries(sm.spec.selector.matchLabels))
      expect(svc.metadata.labels).toHaveProperty([k], val);
    expect(sm.spec.namespaceSelector.matchNames).toEqual(["dai"]);
    expect(sm.spec.endpoints).toHaveLength(1);
    const ep = sm.spec.endpoints[0];
    expect(svc.spec.ports.map((p: { name: string }) => p.name)).toContain(ep.port);
    expect(svc.spec.ports.find((p: { name: string }) => p.name === ep.port).targetPort).toBe("http");
    expect(ep.path).toBe("/metrics");
    expect(ep.interval).toBe(v.metrics.serviceMonitor.interval);
    expect(sm.metadata.labels?.release).toBe(v.metrics.serviceMonitor.labels.release);
  });

  test("PrometheusRule carries exactly the rule files' groups, and promtool accepts them", () => {
    const rule = findObject(objs, "PrometheusRule");
    const files = readdirSync(path.join(CHART, "files")).filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    const groups = files.flatMap((f) => parseYaml(readFileSync(path.join(CHART, "files", f), "utf8")).groups);
    expect(rule.spec.groups).toEqual(groups);
    const alerts = groups.flatMap((g: { rules: { alert?: string }[] }) => g.rules.map((r) => r.alert));
    expect(alerts.length).toBeGreaterThanOrEqual(5);
    const promtool = spawnSync("promtool", ["--version"]);
    if (promtool.error) throw new Error("promtool not installed (Debian package prometheus; .ci/run installs it)");
    const rulesFile = path.join(tmp, "rendered-rules.yaml");
    writeFileSync(rulesFile, JSON.stringify({ groups: rule.spec.groups }));
    const check = spawnSync("promtool", ["check", "rules", rulesFile], { encoding: "utf8" });
    expect(check.stdout + check.stderr).toContain(`SUCCESS: ${alerts.length} rules found`);
    expect(check.status).toBe(0);
  });

  test("the Grafana dashboard ConfigMap holds every files/*.json unchanged", () => {
    const cm = findObject(objs, "ConfigMap", "gw-dai-gateway-dashboard");
    expect(cm.metadata.labels?.grafana_dashboard).toBe("1");
    const files = readdirSync(path.join(CHART, "files")).filter((f) => f.endsWith(".json"));
    expect(Object.keys(cm.data).sort()).toEqual(files.sort());
    for (const f of files) {
      const onDisk = JSON.parse(readFileSync(path.join(CHART, "files", f), "utf8"));
      expect(JSON.parse(cm.data[f])).toEqual(onDisk);
      expect(onDisk.panels.length).toBeGreaterThan(0);
    }
  });

  test("an external Redis password comes from the existing Secret into the URL", () => {
    const { c } = gatewayContainer(objs);
    const pw = c.env.find((e: { name: string }) => e.name === "REDIS_PASSWORD");
    expect(pw.valueFrom.secretKeyRef).toEqual({
      name: v.redis.password.existingSecret,
      key: v.redis.password.existingSecretKey,
    });
    const view = podView(objs, {
      [v.redis.password.existingSecret]: { [v.redis.password.existingSecretKey]: "s3cret" },
    });
    const u = new URL(view.env.DAI_GATEWAY_REDIS__URL!);
    const expected = new URL(v.redis.url);
    expect([u.protocol, u.host, u.pathname, u.password]).toEqual([
      expected.protocol,
      expected.host,
      expected.pathname,
      "s3cret",
    ]);
    expect(objs.some((o) => o.kind === "Secret")).toBe(false);
    // The password never lands in the ConfigMap.
    expect(view.configText).not.toContain("s3cret");
  });
});

describe("TLS", () => {
  test("existing Secret: mounted read-only, config points at its files, client CA for mTLS", () => {
    const file = "tls-values.yaml";
    const v = ciValues(file);
    const objs = renderOrThrow(["-f", path.join(CI_DIR, file)]);
    const { dep, c } = gatewayContainer(objs);
    const vol = dep.spec.template.spec.volumes.find((x: { secret?: { secretName: string } }) => x.secret);
    expect(vol.secret.secretName).toBe(v.tls.existingSecret);
    const mount = c.volumeMounts.find((m: { name: string }) => m.name === vol.name);
    expect(mount.readOnly).toBe(true);
    const { raw } = loadPodConfig(podView(objs));
    expect(raw.tls).toEqual({
      cert: `${mount.mountPath}/tls.crt`,
      key: `${mount.mountPath}/tls.key`,
      clientCa: `${mount.mountPath}/ca.crt`,
    });
  });

  test("inline PEMs: the chart makes a kubernetes.io/tls Secret holding exactly them", () => {
    const dir = mkdtempSync(path.join(tmp, "pki-"));
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
      "-subj", "/CN=dai-gateway", "-keyout", path.join(dir, "tls.key"), "-out", path.join(dir, "tls.crt"),
    ], { stdio: "ignore" }); // prettier-ignore
    const objs = renderOrThrow([
      "--set", "tls.enabled=true",
      "--set-file", `tls.cert=${path.join(dir, "tls.crt")}`,
      "--set-file", `tls.key=${path.join(dir, "tls.key")}`,
    ]); // prettier-ignore
    const secret = findObject(objs, "Secret", "gw-dai-gateway-tls");
    expect(secret.type).toBe("kubernetes.io/tls");
    expect(Buffer.from(secret.data["tls.crt"], "base64").toString()).toBe(
      readFileSync(path.join(dir, "tls.crt"), "utf8"),
    );
    expect(Buffer.from(secret.data["tls.key"], "base64").toString()).toBe(
      readFileSync(path.join(dir, "tls.key"), "utf8"),
    );
    expect(secret.data["ca.crt"]).toBeUndefined();
    const { raw } = loadPodConfig(podView(objs));
    expect(raw.tls).not.toHaveProperty("clientCa");
  });

  test("TLS without certificate material is refused with a message", () => {
    const r = helmTemplate(["--set", "tls.enabled=true"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("tls.enabled needs tls.existingSecret");
  });
});

describe("Redis", () => {
  test("Redis Cluster nodes and key prefix reach config.yaml", () => {
    const file = "redis-cluster-values.yaml";
    const v = ciValues(file);
    const { raw } = loadPodConfig(podView(renderOrThrow(["-f", path.join(CI_DIR, file)])));
    expect(raw.redis).toEqual({ cluster: v.redis.cluster, keyPrefix: v.redis.keyPrefix });
  });

  test("Redis Sentinel: master name and sentinels reach config.yaml", () => {
    const nodes = ["sentinel-0.redis.svc.cluster.local:26379", "sentinel-1.redis.svc.cluster.local:26379"];
    const objs = renderOrThrow([
      "--set",
      "redis.sentinel.name=mymaster",
      "--set-json",
      `redis.sentinel.nodes=${JSON.stringify(nodes)}`,
    ]);
    const { raw } = loadPodConfig(podView(objs));
    expect(raw.redis).toEqual({ sentinel: { name: "mymaster", nodes } });
  });

  test("in-chart trial Redis: its own hardened pod, password from the chart's Secret on both sides", () => {
    const file = "redis-trial-values.yaml";
    const v = ciValues(file);
    const objs = renderOrThrow(["-f", path.join(CI_DIR, file)]);
    const redisDep = findObject(objs, "Deployment", "gw-dai-gateway-redis-trial");
    const redisSvc = findObject(objs, "Service", "gw-dai-gateway-redis-trial");
    expect(redisDep.metadata.annotations?.["dai-gateway/notice"]).toMatch(/trial only/);
    expect(redisDep.spec.replicas).toBe(1);
    const rc = redisDep.spec.template.spec.containers[0];
    expect(rc.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(rc.securityContext.capabilities.drop).toEqual(["ALL"]);
    expect(redisDep.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    for (const [k, val] of Object.entries(redisSvc.spec.selector)) {
      expect(redisDep.spec.template.metadata.labels).toHaveProperty([k], val);
    }
    // The gateway Service must not select the Redis pod, nor the Redis Service the gateway.
    const gwSvc = findObject(objs, "Service", "gw-dai-gateway");
    expect(gwSvc.spec.selector["app.kubernetes.io/component"]).not.toBe(
      redisSvc.spec.selector["app.kubernetes.io/component"],
    );

    const view = podView(objs);
    const url = new URL(view.env.DAI_GATEWAY_REDIS__URL!);
    expect(url.hostname).toBe(redisSvc.metadata.name);
    expect(Number(url.port)).toBe(redisSvc.spec.ports[0].port);
    expect(url.password).toBe(v.redis.password.value);
    // Redis requires the same password the gateway sends.
    const redisPw = rc.env.find((e: { name: string }) => e.name === "REDIS_PASSWORD").valueFrom.secretKeyRef;
    const secret = findObject(objs, "Secret", redisPw.name);
    expect(Buffer.from(secret.data[redisPw.key], "base64").toString()).toBe(v.redis.password.value);
    const args: string[] = rc.args;
    expect(args[args.indexOf("--requirepass") + 1]).toBe("$(REDIS_PASSWORD)");
    const { raw } = loadPodConfig(view);
    expect(raw.redis).toEqual({ url: `redis://${redisSvc.metadata.name}:6379`, keyPrefix: v.redis.keyPrefix });
  });

  test("contradicting Redis settings are refused with a message", () => {
    const both = helmTemplate(["--set", "redisTrial.enabled=true", "--set", "redis.url=redis://r:6379"]);
    expect(both.status).not.toBe(0);
    expect(both.stderr).toContain("redisTrial.enabled runs a Redis inside the release");
    const urlAndCluster = helmTemplate(["--set", "redis.url=redis://r:6379", "--set", "redis.cluster={a:6379}"]);
    expect(urlAndCluster.status).not.toBe(0);
    expect(urlAndCluster.stderr).toContain("either redis.url");
    const sentinelAndUrl = helmTemplate([
      "--set", "redis.url=redis://r:6379", "--set", "redis.sentinel.name=m", "--set", "redis.sentinel.nodes={s:26379}",
    ]); // prettier-ignore
    expect(sentinelAndUrl.status).not.toBe(0);
    expect(sentinelAndUrl.stderr).toContain("not more than one");
    const sentinelNoNodes = helmTemplate(["--set", "redis.sentinel.name=m"]);
    expect(sentinelNoNodes.stderr).toContain("redis.sentinel.name needs redis.sentinel.nodes");
    const credsInUrl = helmTemplate(["--set", "redis.url=redis://:pw@r:6379"]);
    expect(credsInUrl.status).not.toBe(0);
    expect(credsInUrl.stderr).toContain("redis.url");
  });
});

describe("values.schema.json: typos fail", () => {
  test.each([
    [["--set", "replicaCont=3"], "replicaCont"],
    [["--set", "autoscaling.enabeld=true"], "enabeld"],
    [["--set", "config.executor.seeds={a:1}"], "executor"],
    [["--set", "config.executors.callTimeoutMS=5"], "callTimeoutMS"],
    [["--set", "config.log.level=verbose"], "config.log.level"],
    [["--set", "image.tag=latest"], "image.tag"],
    [["--set", "metrics.serviceMonitor.interval=soon"], "interval"],
  ])("%j", (values, named) => {
    for (const cmd of [
      ["template", "gw", CHART],
      ["lint", "--strict", CHART],
    ]) {
      const r = runHelm([...cmd, ...values]);
      expect(r.status).not.toBe(0);
      expect(r.stdout + r.stderr).toContain(named);
    }
  });

  test("the `config` part is the gateway's own schema (npm run chart:schema keeps it in step)", () => {
    const schema = JSON.parse(readFileSync(path.join(CHART, "values.schema.json"), "utf8"));
    const { description: _d, ...committed } = schema.properties.config;
    if (!isDeepStrictEqual(committed, chartConfigJsonSchema())) {
      throw new Error(
        "helm/dai-gateway/values.schema.json is out of date with src/config/schema.ts: run npm run chart:schema",
      );
    }
    // Every gateway key except the chart-managed ones can be set through `config`.
    const settable = Object.keys(committed.properties).sort();
    const expected = [...new Set(configKeyPaths().map((p) => p[0]!))]
      .filter((k) => !(CHART_MANAGED_KEYS as readonly string[]).includes(k))
      .sort();
    expect(settable).toEqual(expected);
  });
});

describe("observability files", () => {
  const source = path.join(ROOT, "deploy", "observability");
  const isRules = (file: string) => /\.ya?ml$/.test(file) && "groups" in (parseYaml(readFileSync(file, "utf8")) ?? {});
  test("the chart ships deploy/observability/'s dashboards and rule files unchanged", () => {
    const chartFiles = readdirSync(path.join(CHART, "files")).sort();
    expect(chartFiles.filter((f) => f.endsWith(".json")).length).toBeGreaterThan(0);
    expect(chartFiles.filter((f) => isRules(path.join(CHART, "files", f))).length).toBeGreaterThan(0);
    if (!existsSync(source)) return; // not merged yet: the chart's copies stand alone
    // Dashboards and rule files, not promtool's unit-test files (rule_files/tests).
    const shipped = readdirSync(source)
      .filter((f) => f.endsWith(".json") || isRules(path.join(source, f)))
      .sort();
    expect(chartFiles).toEqual(shipped);
    for (const f of shipped) {
      const same = readFileSync(path.join(CHART, "files", f), "utf8") === readFileSync(path.join(source, f), "utf8");
      if (!same) throw new Error(`helm/dai-gateway/files/${f} differs from deploy/observability/${f}: copy it over`);
    }
  });
});

describe("documentation", () => {
  test("the chart README's values table names every value", () => {
    const readme = readFileSync(path.join(CHART, "README.md"), "utf8");
    const documented = new Set([...readme.matchAll(/^\|\s*`([^`]+)`\s*\|/gm)].map((m) => m[1]!));
    const opaque = new Set([
      "config",
      "resources",
      "redisTrial.resources",
      "livenessProbe",
      "readinessProbe",
      "podSecurityContext",
      "securityContext",
    ]);
    const leaves: string[] = [];
    const walk = (v: unknown, p: string): void => {
      if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length > 0 && !opaque.has(p)) {
        for (const [k, child] of Object.entries(v)) walk(child, p ? `${p}.${k}` : k);
      } else leaves.push(p);
    };
    walk(defaults, "");
    expect(leaves.length).toBeGreaterThan(50);
    expect(leaves.filter((k) => !documented.has(k))).toEqual([]);
    expect([...documented].filter((k) => !leaves.includes(k))).toEqual([]);
  });

  test("NOTES.txt warns about missing seeds, unshared caches and the trial Redis", () => {
    // helm renders NOTES.txt only on install; a copy of the chart renders it as a ConfigMap.
    const copy = path.join(mkdtempSync(path.join(tmp, "notes-")), "dai-gateway");
    execFileSync("cp", ["-r", CHART, copy]);
    const notes = readFileSync(path.join(copy, "templates", "NOTES.txt"), "utf8");
    rmSync(path.join(copy, "templates", "NOTES.txt"));
    writeFileSync(path.join(copy, "templates", "_notes.tpl"), `{{- define "test.notes" -}}\n${notes}\n{{- end }}\n`);
    writeFileSync(
      path.join(copy, "templates", "zz-notes.yaml"),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include "test.notes" . | quote }}\n',
    );
    const render = (values: string[]) => {
      const r = runHelm([
        "template",
        "gw",
        copy,
        "--namespace",
        "dai",
        "--show-only",
        "templates/zz-notes.yaml",
        ...values,
      ]);
      if (r.status !== 0) throw new Error(r.stderr);
      return (parseYaml(r.stdout) as { data: { notes: string } }).data.notes;
    };
    const plain = render([]);
    expect(plain).toContain("gw-dai-gateway.dai.svc:8184");
    expect(plain).toContain("config.executors.seeds is empty");
    expect(plain).toContain("no shared Redis");
    const trial = render(["-f", path.join(CI_DIR, "redis-trial-values.yaml")]);
    expect(trial).toContain("TRIAL");
    expect(trial).not.toContain("seeds is empty");
    expect(trial).not.toContain("no shared Redis");
    const shared = render(["-f", path.join(CI_DIR, "autoscaling-values.yaml")]);
    expect(shared).not.toContain("no shared Redis");
    expect(shared).toContain("ServiceMonitor created");
  });
});
