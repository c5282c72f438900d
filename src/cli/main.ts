/** The `dai-gateway` command: serve, simulate, demo, tasks, executors. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { formatWithOptions } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { loadConfig, ConfigError } from "../config/load";
import { startGateway } from "../gateway";
import { createLogger } from "../log";
import { startSimCluster } from "../sim/cluster";
import { runDemo } from "./demo";
import { registerExecutorsCommand } from "./executors";
import { CliError } from "./connect";
import { example, registerTaskCommands } from "./tasks";
import type { SimMode } from "../sim/executor";
import { DEFAULT_EXECUTOR_VERSION, EXECUTOR_VERSIONS, isExecutorVersion, type ExecutorVersion } from "../sim/version";

function int(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

/** This package's version, from the package.json above this file (src/cli or dist/src/cli). */
export function packageVersion(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "dai-gateway" && pkg.version) return pkg.version;
    }
    if (path.dirname(dir) === dir) return "unknown";
  }
}

/** "dai-gateway tasks list" -> "tasks list". */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** Commander's "error: unknown option '--x'\n(Did you mean --y?)" as one line, without "error: ". */
export function usageLine(text: string): string {
  return text
    .replace(/^error:\s*/i, "")
    .replace(/\s*\n\s*\(Did you mean/g, " (did you mean")
    .replace(/\s*\n\s*/g, " ")
    .trim();
}

/** Every usage error is one line `dai-gateway: <command>: <what>` (no help text after it). */
function oneLineUsageErrors(cmd: Command): void {
  const where = commandPath(cmd);
  cmd.showHelpAfterError(false).configureOutput({
    outputError: (str, write) => write(`dai-gateway: ${where ? `${where}: ` : ""}${usageLine(str)}\n`),
  });
  for (const sub of cmd.commands) oneLineUsageErrors(sub);
}

/** Writing to a closed pipe (`dai-gateway tasks list | head`) ends the command quietly. */
export function quietOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
}

function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
}

export async function main(argv: string[]): Promise<void> {
  quietOnClosedPipe();
  const program = new Command("dai-gateway")
    .description("One PaddleDTX-style Task API in front of many Executors")
    .version(packageVersion(), "-V, --version", "print the version")
    .exitOverride((err) => {
      if (err.exitCode !== 0) process.exitCode = err.exitCode;
      throw err;
    });
  example(program, "dai-gateway tasks list --host 127.0.0.1:8184   # after: npm run demo");

  const serve = program
    .command("serve")
    .description("run the gateway")
    .option("-c, --config <file>", "YAML configuration file (environment DAI_GATEWAY_* overrides it)")
    .action(async (opts: { config?: string }) => {
      const config = loadConfig(opts.config);
      const log = createLogger(config.log.level);
      // grpc-js prints its own lines ("E No address added ...") on stderr; the gateway says
      // what failed in its own words, so grpc-js's go to the log at debug level.
      grpc.setLogger({
        error: (...args: unknown[]) =>
          log.debug({ grpc: formatWithOptions({ breakLength: Infinity }, ...args) }, "grpc-js"),
      } as Partial<Console> as Console);
      // Signals are handled from the start: a SIGTERM while starting still stops cleanly.
      const starting = startGateway(config, log);
      onSignals(async () => {
        log.info("stopping");
        const gw = await starting.catch(() => undefined);
        await gw?.stop();
        log.info("stopped");
      });
      await starting;
    });
  example(serve, "dai-gateway serve --config config/local.yaml");

  const simulate = program
    .command("simulate")
    .description("run simulated Executors (real gRPC servers) on loopback")
    .option("-n, --executors <k>", "how many Executors", int("--executors", 2, 1000), 5)
    .option("--seed <n>", "seed of the generated history", int("--seed", 0, 2 ** 31), 1)
    .option("--host <host>", "address to bind", "127.0.0.1")
    .option("--base-port <port>", "first port (consecutive ports follow); 0 = any", int("--base-port", 0, 65000), 7101)
    .option("--tasks <n>", "training tasks in the history", int("--tasks", 1, 100000), 24)
    .option("--latency-ms <ms>", "latency added to every call", int("--latency-ms", 0, 600000), 0)
    .option("--lag <i...>", "indexes of Executors that hold older statuses")
    .option("--mode <i=mode...>", "failure modes: i=error|garbage|notfound|down")
    .option(
      "--keys-dir <dir>",
      "write each requester's private key to <dir>/requester-<i>.key (hex, as tasks result -k reads)",
    )
    .option(
      "--executor-version <v>",
      `Executor release to behave like: ${EXECUTOR_VERSIONS.join("|")} (error codes, timeEnd = 0)`,
      (v: string) => {
        if (!isExecutorVersion(v)) throw new InvalidArgumentError(`expected one of ${EXECUTOR_VERSIONS.join(", ")}`);
        return v;
      },
      DEFAULT_EXECUTOR_VERSION,
    )
    .action(
      async (opts: {
        executors: number;
        seed: number;
        host: string;
        basePort: number;
        tasks: number;
        latencyMs: number;
        lag?: string[];
        mode?: string[];
        keysDir?: string;
        executorVersion: ExecutorVersion;
      }) => {
        // grpc-js would print its own "E No address added ..." line; the error below says it in words.
        grpc.setLogVerbosity(grpc.logVerbosity.NONE);
        const cluster = await startSimCluster({
          executors: opts.executors,
          seed: opts.seed,
          host: opts.host,
          basePort: opts.basePort,
          trainingTasks: opts.tasks,
          latencyMs: opts.latencyMs,
          lagging: (opts.lag ?? []).map(Number),
          version: opts.executorVersion,
        }).catch((err: Error) => {
          const busy = /address already in use (\S+?)\]?$/.exec(err.message)?.[1];
          if (!busy) throw err;
          throw new CliError(
            `--base-port ${opts.basePort}: ${busy} is already in use (pick another --base-port, or 0 for free ports)`,
          );
        });
        for (const m of opts.mode ?? []) {
          const [i, mode] = m.split("=");
          const e = cluster.executors[Number(i)];
          if (!e || !mode) throw new Error(`--mode ${m}: expected index=mode`);
          if (mode === "down") await e.stop();
          else if (["error", "garbage", "notfound", "ok"].includes(mode)) e.mode = mode as SimMode;
          else throw new Error(`--mode ${m}: unknown mode ${mode}`);
        }
        process.stdout.write(
          `${cluster.executors.length} simulated ${opts.executorVersion} Executors, ${cluster.ledger.tasks.length} tasks (seed ${opts.seed})\n`,
        );
        for (const [i, e] of cluster.executors.entries()) {
          process.stdout.write(`  ${e.name}  ${e.address}  key ${cluster.keys[i]!.publicKey.toString("hex")}\n`);
        }
        process.stdout.write(describeRequesters(cluster, opts.keysDir));
        onSignals(() => cluster.stop());
      },
    );
  example(simulate, "dai-gateway simulate --executors 5 --seed 1 --base-port 7101 --keys-dir ./sim-keys");

  const demo = program
    .command("demo")
    .description("simulated Executors + a gateway on embedded defaults, sample queries, then keep serving")
    .option("--port <port>", "gateway gRPC port", int("--port", 0, 65535), 8184)
    .option("--http-port <port>", "gateway HTTP port", int("--http-port", 0, 65535), 9184)
    .option("--keys-dir <dir>", "where to write the requesters' key files", "demo-keys")
    .option("--exit", "exit after the sample queries")
    .action(async (opts: { port: number; httpPort: number; keysDir: string; exit?: boolean }) => {
      const stop = await runDemo(opts);
      if (opts.exit) await stop();
      else onSignals(stop);
    });
  example(demo, "dai-gateway demo --port 8184 --http-port 9184");

  registerTaskCommands(program);
  registerExecutorsCommand(program);
  oneLineUsageErrors(program);

  // Errors from an action are prefixed with its command, so every failure reads `dai-gateway: <command>: ...`.
  let running = "";
  program.hook("preAction", (_root, action) => {
    running = commandPath(action);
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return;
      process.exit(err.exitCode ?? 1);
    }
    const message = err instanceof ConfigError || err instanceof CliError ? err.message : (err as Error)?.message;
    if (typeof message !== "string" || !running) throw err;
    throw new CliError(message.startsWith(`${running}:`) ? message : `${running}: ${message}`);
  }
}

/** Which requester each key belongs to, optionally written as key files. */
function describeRequesters(cluster: Awaited<ReturnType<typeof startSimCluster>>, keysDir?: string): string {
  let text = "requesters (public key -> private key, hex):\n";
  if (keysDir) mkdirSync(keysDir, { recursive: true });
  for (const [i, r] of cluster.ledger.requesters.entries()) {
    text += `  requester-${i}  public ${r.publicKey.toString("hex")}\n               private ${r.privateKey.toString("hex")}\n`;
    if (keysDir) {
      const file = path.join(keysDir, `requester-${i}.key`);
      writeFileSync(file, `${r.privateKey.toString("hex")}\n`, { mode: 0o600 });
      text += `               key file ${file}\n`;
    }
  }
  return text;
}
