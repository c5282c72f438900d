/**
 * Reads configuration from a YAML file and DAI_GATEWAY_* environment variables and
 * validates it once, at start. Errors name the bad key and what was expected.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { configSchema, type ConfigInput, type GatewayConfig } from "./schema";

export class ConfigError extends Error {
  override name = "ConfigError";
}

export const ENV_PREFIX = "DAI_GATEWAY_";

/** `executors.callTimeoutMs` -> `DAI_GATEWAY_EXECUTORS__CALL_TIMEOUT_MS`. */
export function envNameFor(path: readonly string[]): string {
  return ENV_PREFIX + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()).join("__");
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  for (;;) {
    const def = (s as unknown as { def: { type: string; innerType?: z.ZodType } }).def;
    if ((def.type === "default" || def.type === "prefault" || def.type === "optional") && def.innerType) {
      s = def.innerType;
    } else return s;
  }
}

/** The (unwrapped) schema of a key path, e.g. ["executors", "seeds"] -> the seeds array. */
function schemaAt(path: readonly string[], schema: z.ZodType = configSchema): z.ZodType | undefined {
  let s = unwrap(schema);
  for (const key of path) {
    if (!(s instanceof z.ZodObject)) return undefined;
    const next = (s.shape as Record<string, z.ZodType>)[key];
    if (!next) return undefined;
    s = unwrap(next);
  }
  return s;
}

/** Every leaf key of the schema as a path, e.g. ["executors", "seeds"]. */
export function configKeyPaths(schema: z.ZodType = configSchema, prefix: string[] = []): string[][] {
  const s = unwrap(schema);
  if (s instanceof z.ZodObject) {
    return Object.entries(s.shape as Record<string, z.ZodType>).flatMap(([k, v]) => configKeyPaths(v, [...prefix, k]));
  }
  return [prefix];
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** Applies DAI_GATEWAY_* variables; values are YAML scalars or flow lists (`[a, b]`). */
export function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const byName = new Map(configKeyPaths().map((p) => [envNameFor(p), p]));
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    const path = byName.get(name);
    if (!path) {
      throw new ConfigError(`unknown environment variable ${name}: no such configuration key`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(value);
    } catch {
      throw new ConfigError(`${name}: not a valid YAML value`);
    }
    if (schemaAt(path) instanceof z.ZodArray && !Array.isArray(parsed)) {
      throw new ConfigError(
        `${name}: ${path.join(".")} is a list: write it as a YAML flow list, e.g. ${name}='[${value.trim() || "..."}]'`,
      );
    }
    setPath(raw, path, parsed);
  }
  return raw;
}

function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const key = i.path.length > 0 ? i.path.join(".") : "(top level)";
      return `  ${key}: ${i.message}`;
    })
    .join("\n");
}

export function parseConfig(input: unknown): GatewayConfig {
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) throw new ConfigError(`invalid configuration:\n${formatIssues(result.error)}`);
  return result.data;
}

/** Loads the file (optional), applies the environment, validates. */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let raw: unknown = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
    }
    if (typeof raw !== "object" || Array.isArray(raw)) {
      throw new ConfigError(`config file ${file}: expected a mapping of keys at the top level`);
    }
  }
  return parseConfig(applyEnv(raw as Record<string, unknown>, env));
}

export type { ConfigInput, GatewayConfig };
