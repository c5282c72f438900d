/**
 * `dai-gateway executors`: the gateway's Executor set with health, last latency,
 * circuit state and task counts. There is no RPC for this in `task.Task`, so it reads
 * the gateway's HTTP route GET /v1/executors (`--http`, by default port 9184 on the
 * --host machine).
 */
import type { Command } from "commander";
import type { ExecutorStatusJson } from "../http/executor-routes";
import { CliError, getJson } from "./connect";
import { table } from "./format";
import { withConnection } from "./tasks";

export const DEFAULT_HTTP_PORT = 9184;

/** http://<host of --host>:9184, IPv6 kept in brackets. */
export function httpUrlFor(host: string, tls: boolean): string {
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(host);
  if (!m) throw new CliError(`--host: expected host:port, got ${host}`);
  return `${tls ? "https" : "http"}://${m[1]}:${DEFAULT_HTTP_PORT}`;
}

interface StatusData {
  executors: ExecutorStatusJson[];
  cache: { available: boolean; hitRatio: number | null; hits?: number; misses?: number };
}

export function registerExecutorsCommand(program: Command): void {
  withConnection(
    program
      .command("executors")
      .description("list the Executors the gateway knows, with health, latency, circuit state and task counts")
      .option("--http <url>", "gateway HTTP base URL (default: http://<--host's host>:9184)")
      .option("--json", "print the JSON the gateway returned")
      .showHelpAfterError(false),
  ).action(
    async (o: {
      host: string;
      http?: string;
      json?: boolean;
      tls?: boolean;
      ca?: string;
      cert?: string;
      key?: string;
      timeout: number;
    }) => {
      const base = (o.http ?? httpUrlFor(o.host, Boolean(o.tls || o.ca))).replace(/\/+$/, "");
      const data = (await getJson(`${base}/v1/executors`, o)) as StatusData;
      if (o.json) {
        process.stdout.write(JSON.stringify(data, null, 2) + "\n");
        return;
      }
      const health = (h: boolean | null): string => (h === null ? "unknown" : h ? "up" : "DOWN");
      const rows = data.executors.map((e) => [
        e.address,
        e.source,
        health(e.healthy),
        e.lastLatencyMs === null ? "-" : `${e.lastLatencyMs} ms`,
        e.circuit ?? "n/a",
        e.tasks === null ? "-" : String(e.tasks),
        e.lastError ?? "",
      ]);
      process.stdout.write(table(["ADDRESS", "SOURCE", "HEALTH", "LATENCY", "CIRCUIT", "TASKS", "LAST ERROR"], rows));
      const ratio = data.cache.hitRatio;
      const up = data.executors.filter((e) => e.healthy).length;
      process.stdout.write(
        `${data.executors.length} Executor(s), ${up} up; cache hit ratio: ${ratio === null ? "n/a" : `${(ratio * 100).toFixed(1)}%`}\n`,
      );
    },
  );
}
