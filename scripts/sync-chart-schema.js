#!/usr/bin/env node
// Writes the gateway's configuration schema (from src/config/schema.ts, via the build in dist/)
// into helm/dai-gateway/values.schema.json under properties.config. Run after adding or
// changing a configuration key: `npm run chart:schema`. test/unit/helm-chart.test.ts fails
// when the two differ.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const prettier = require("prettier");
const { chartConfigJsonSchema } = require("../dist/src/config/json-schema.js");

async function main() {
  const file = path.join(__dirname, "..", "helm", "dai-gateway", "values.schema.json");
  const values = JSON.parse(fs.readFileSync(file, "utf8"));
  const config = chartConfigJsonSchema();
  config.description = values.properties.config.description;
  values.properties.config = config;
  const text = await prettier.format(JSON.stringify(values, null, 2), {
    parser: "json",
    filepath: file,
    printWidth: 120,
  });
  fs.writeFileSync(file, text);
  process.stdout.write(`updated ${path.relative(process.cwd(), file)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
