/**
 * Real redis-server processes for tests, on free loopback ports (never 6379):
 * a single node that can be killed and restarted on the same port, and a
 * 3-master Redis Cluster built with `redis-cli --cluster create`.
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** A free port whose cluster-bus twin (port + 10000) is free too. */
export async function freeRedisPort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    if (port === 6379) continue;
    if ((await portFree(port)) && (await portFree(port + 10000))) return port;
  }
  throw new Error("no free port for redis-server");
}

function cli(args: string[], timeoutMs = 15000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("redis-cli", args, { timeout: timeoutMs }, (err, stdout, stderr) =>
      err ? reject(new Error(`redis-cli ${args.join(" ")}: ${err.message} ${stderr}`)) : resolve(stdout),
    );
  });
}

async function waitFor(fn: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export class RedisProcess {
  private proc?: ChildProcess;

  constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly extraArgs: string[] = [],
    /** Arguments before the options (a config file, `--sentinel`); replaces the data-node defaults. */
    private readonly leadingArgs?: string[],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null;
  }

  async start(): Promise<void> {
    const args = this.leadingArgs
      ? [...this.leadingArgs]
      : [
          "--port",
          String(this.port),
          "--bind",
          "127.0.0.1",
          "--save",
          "",
          "--appendonly",
          "no",
          "--dir",
          this.dir,
          "--protected-mode",
          "no",
          ...this.extraArgs,
        ];
    const proc = spawn("redis-server", args, { stdio: "ignore" });
    this.proc = proc;
    await waitFor(
      async () => (await cli(["-p", String(this.port), "ping"], 2000)).trim() === "PONG",
      10000,
      `redis on ${this.port}`,
    );
  }

  /** SIGKILL: the abrupt death of a Redis process. */
  async kill(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGKILL");
    await exited;
  }

  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }

  cli(...args: string[]): Promise<string> {
    return cli(["-p", String(this.port), ...args]);
  }
}

/** One redis-server on a free port; `stop()` kills it and removes its directory. */
export async function startRedis(): Promise<RedisProcess & { stop(): Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dai-redis-"));
  const r = new RedisProcess(await freeRedisPort(), dir);
  await r.start();
  return Object.assign(r, {
    async stop() {
      await r.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

export interface RedisCluster {
  nodes: RedisProcess[];
  /** `host:port` of every master. */
  addresses: string[];
  stop(): Promise<void>;
}

/** A Redis Cluster of `masters` masters and no replicas, ready (cluster_state:ok). */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dai-redis-cluster-"));
  const nodes: RedisProcess[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freeRedisPort();
      const node = new RedisProcess(port, dir, [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        path.join(dir, `nodes-${port}.conf`),
        "--cluster-node-timeout",
        "2000",
      ]);
      await node.start();
      nodes.push(node);
    }
    const addresses = nodes.map((n) => n.address);
    await cli(["--cluster", "create", ...addresses, "--cluster-replicas", "0", "--cluster-yes"], 30000);
    for (const n of nodes) {
      await waitFor(
        async () => (await n.cli("cluster", "info")).includes("cluster_state:ok"),
        15000,
        "cluster_state:ok",
      );
    }
    return {
      nodes,
      addresses,
      async stop() {
        await Promise.all(nodes.map((n) => n.kill()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface RedisSentinel {
  master: RedisProcess;
  sentinel: RedisProcess;
  /** The master's name the Sentinel monitors. */
  name: string;
  stop(): Promise<void>;
}

/** A master and one Sentinel monitoring it (quorum 1). */
export async function startRedisSentinel(name = "daimaster"): Promise<RedisSentinel> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dai-redis-sentinel-"));
  const master = new RedisProcess(await freeRedisPort(), dir);
  await master.start();
  const port = await freeRedisPort();
  const conf = path.join(dir, "sentinel.conf");
  writeFileSync(
    conf,
    [
      `port ${port}`,
      "bind 127.0.0.1",
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
      `sentinel down-after-milliseconds ${name} 2000`,
      "",
    ].join("\n"),
  );
  const sentinel = new RedisProcess(port, dir, [], [conf, "--sentinel"]);
  try {
    await sentinel.start();
    await waitFor(
      async () => (await sentinel.cli("sentinel", "get-master-addr-by-name", name)).includes(String(master.port)),
      10000,
      "sentinel to know its master",
    );
  } catch (err) {
    await Promise.all([master.kill(), sentinel.kill()]);
    throw err;
  }
  return {
    master,
    sentinel,
    name,
    async stop() {
      await Promise.all([master.kill(), sentinel.kill()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
