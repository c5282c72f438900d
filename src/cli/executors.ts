/**
 * `dai-gateway executors`: the gateway's Executor set with health, last latency,
 * circuit state and task counts. There is no RPC for this in `task.Task`, so it reads
 * the gateway's HTTP route GET /v1/executors. `--http` names the HTTP side; without it
 * the URL is derived from --host only when --host uses the default gRPC port (8184 ->
 * 9184 on the same host), so it never reads some other gateway's status by guessing.
 */
import type { Command } from "commander";
import type { ExecutorStatusJson } from "../http/executor-routes";
import { CliError, getJson, type ConnectOptions } from "./connect";
import { shortHex, table } from "./format";
import { DEFAULT_GRPC_PORT, withConnection } from "./tasks";

export const DEFAULT_HTTP_PORT = 9184;

/**
 * The HTTP base URL for --host: same host, port 9184, when --host uses the default gRPC
 * port 8184 (how the README, the demo and config/local.yaml pair them); otherwise the
 * HTTP port cannot be known and --http is required. IPv6 stays in brackets.
 */
export function httpUrlFor(host: string, tls: boolean): string {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
  if (!m) throw new CliError(`executors: --host: expected host:port, got ${host}`);
  const port = m[2] === undefined ? DEFAULT_GRPC_PORT : Number(m[2]);
  if (port !== DEFAULT_GRPC_PORT)
    throw new CliError(
      `executors: --host ${host} is not on the default gRPC port ${DEFAULT_GRPC_PORT}, so its HTTP port is unknown: ` +
        `add --http http://${m[1]}:<port of its httpListen>`,
    );
  return `${tls ? "https" : "http"}://${m[1]}:${DEFAULT_HTTP_PORT}`;
}

/**
 * The --http value as a base URL: a URL as given; a bare `host:port` (or `[v6]:port`)
 * gets the scheme --tls/--ca imply, as people type it after `--host`.
 */
export function httpBase(given: string, tls: boolean): string {
  const base = /^[a-z][a-z0-9+.-]*:\/\//i.test(given) ? given : `${tls ? "https" : "http"}://${given}`;
  return base.replace(/\/+$/, "");
}

export interface ExecutorsData {
  executors: ExecutorStatusJson[];
  cache: { available: boolean; hitRatio: number | null; hits?: number; misses?: number };
}

const health = (h: boolean | null): string => (h === null ? "unknown" : h ? "up" : "DOWN");

/** The table and summary `executors` prints (the demo prints the same). */
export function formatExecutors(data: ExecutorsData, url: string): string {
  const rows = data.executors.map((e) => [
    e.name ?? "-",
    e.address,
    e.pubKey ? shortHex(Buffer.from(e.pubKey, "hex"), 12) : "-",
    e.source,
    health(e.healthy),
    e.lastLatencyMs === null ? "-" : `${e.lastLatencyMs} ms`,
    e.circuit ?? "n/a",
    e.tasks === null ? "-" : String(e.tasks),
    e.lastError ?? "",
  ]);
  const ratio = data.cache.hitRatio;
  const up = data.executors.filter((e) => e.healthy).length;
  return (
    table(["NAME", "ADDRESS", "KEY", "SOURCE", "HEALTH", "LATENCY", "CIRCUIT", "TASKS", "LAST ERROR"], rows) +
    `${data.executors.length} Executor(s), ${up} up; cache hit ratio: ` +
    `${ratio === null ? "n/a" : `${(ratio * 100).toFixed(1)}%`}; read from ${url}\n`
  );
}

export function registerExecutorsCommand(program: Command): void {
  withConnection(
    program
      .command("executors")
      .description(
        "list the Executors the gateway knows: name, address, key, health, latency, circuit state, tasks it takes part in",
      )
      .option(
        "--http <url>",
        "gateway HTTP base URL or host:port (default: http://<host>:9184 when --host is <host>:8184)",
      )
      .option("--json", "print the JSON the gateway returned (keys as hex)")
      .addHelpText(
        "after",
        "\nExample:\n  $ dai-gateway executors --host 127.0.0.1:8184   # reads http://127.0.0.1:9184/v1/executors",
      ),
  ).action(async (o: ConnectOptions & { http?: string; json?: boolean }) => {
    const tls = Boolean(o.tls || o.ca);
    const base = httpBase(o.http ?? httpUrlFor(o.host, tls), tls);
    const url = `${base}/v1/executors`;
    const data = (await getJson(url, o, "executors")) as ExecutorsData;
    if (o.json) {
      process.stdout.write(JSON.stringify(data, null, 2) + "\n");
      return;
    }
    process.stdout.write(formatExecutors(data, url));
  });
}
