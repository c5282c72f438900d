/** The `dai-gateway` command: serve, simulate, demo. */
import { Command, InvalidArgumentError } from "commander";
import { loadConfig, ConfigError } from "../config/load";
import { startGateway } from "../gateway";
import { createLogger } from "../log";
import { startSimCluster } from "../sim/cluster";
import { runDemo } from "./demo";
import { registerExecutorsCommand } from "./executors";
import { registerTaskCommands } from "./tasks";
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
  const program = new Command("dai-gateway")
    .description("One PaddleDTX-style Task API in front of many Executors")
    .showHelpAfterError()
    .exitOverride((err) => {
      if (err.exitCode !== 0) process.exitCode = err.exitCode;
      throw err;
    });

  program
    .command("serve")
    .description("run the gateway")
    .option("-c, --config <file>", "YAML configuration file (environment DAI_GATEWAY_* overrides it)")
    .action(async (opts: { config?: string }) => {
      let config;
      try {
        config = loadConfig(opts.config);
      } catch (err) {
        if (err instanceof ConfigError) throw new Error(err.message);
        throw err;
      }
      const log = createLogger(config.log.level);
      const gw = await startGateway(config, log);
      onSignals(async () => {
        log.info("stopping");
        await gw.stop();
      });
    });

  program
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
      "--executor-version <v>",
      `Executor release to behave like: ${EXECUTOR_VERSIONS.join("|")} (error codes, timeEnd = 0)`,
      (v: string) => {
        if (!isExecutorVersion(v)) throw new InvalidArgumentError(`expected one of ${EXECUTOR_VERSIONS.join(", ")}`);
        return v;
      },
      DEFAULT_EXECUTOR_VERSION,
    )
    .option("--v3 <i...>", "indexes of Executors of the v3 generation (PaddleDTX main), for a mixed cluster")
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
        executorVersion: ExecutorVersion;
        v3?: string[];
      }) => {
        const v3 = new Set((opts.v3 ?? []).map(Number));
        const cluster = await startSimCluster({
          executors: opts.executors,
          seed: opts.seed,
          host: opts.host,
          basePort: opts.basePort,
          trainingTasks: opts.tasks,
          latencyMs: opts.latencyMs,
          lagging: (opts.lag ?? []).map(Number),
          version: opts.executorVersion,
          versions: Array.from({ length: opts.executors }, (_, i) => (v3.has(i) ? "v3" : undefined)),
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
          `${cluster.executors.length} simulated Executors (${opts.executorVersion}${v3.size > 0 ? `, v3: ${[...v3].join(",")}` : ""}), ${cluster.ledger.tasks.length} tasks (seed ${opts.seed})\n`,
        );
        for (const [i, e] of cluster.executors.entries()) {
          process.stdout.write(
            `  ${e.address}  ${e.version}  key ${cluster.keys[i]!.publicKey.toString("hex")}  tasks ${e.taskIds().length}\n`,
          );
        }
        process.stdout.write(`requester keys (private, hex):\n`);
        for (const r of cluster.ledger.requesters) process.stdout.write(`  ${r.privateKey.toString("hex")}\n`);
        onSignals(() => cluster.stop());
      },
    );

  program
    .command("demo")
    .description("simulated Executors + a gateway on embedded defaults, sample queries, then keep serving")
    .option("--port <port>", "gateway gRPC port", int("--port", 0, 65535), 8184)
    .option("--http-port <port>", "gateway HTTP port", int("--http-port", 0, 65535), 9184)
    .option("--exit", "exit after the sample queries")
    .action(async (opts: { port: number; httpPort: number; exit?: boolean }) => {
      const stop = await runDemo(opts);
      if (opts.exit) await stop();
      else onSignals(stop);
    });

  registerTaskCommands(program);
  registerExecutorsCommand(program);

  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (typeof e.code === "string" && e.code.startsWith("commander.")) {
      if (e.exitCode === 0) return;
      process.exit(e.exitCode ?? 1);
    }
    throw err;
  }
}
