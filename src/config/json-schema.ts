/**
 * The configuration schema as JSON Schema (draft-07), derived from the zod schema so the
 * two cannot drift. The Helm chart's values.schema.json embeds it under `config`
 * (scripts/sync-chart-schema.js) so a typo in a config key fails `helm install`.
 */
import { z } from "zod";
import { configSchema } from "./schema";

export type JsonSchema = Record<string, unknown>;

/** JSON Schema of config.yaml as a user writes it (input side: defaults are optional). */
export function configJsonSchema(): JsonSchema {
  const schema = z.toJSONSchema(configSchema, { io: "input", target: "draft-7", unrepresentable: "any" }) as JsonSchema;
  delete schema.$schema;
  return schema;
}

/** Top-level keys the Helm chart writes itself: listen ports, Redis address, TLS file paths. */
export const CHART_MANAGED_KEYS = ["listen", "httpListen", "redis", "tls"] as const;

/** The schema of the chart's `config` value: config.yaml without the chart-managed keys. */
export function chartConfigJsonSchema(): JsonSchema {
  const schema = configJsonSchema();
  const props = { ...(schema.properties as Record<string, unknown>) };
  for (const key of CHART_MANAGED_KEYS) delete props[key];
  return { ...schema, properties: props };
}
