/**
 * The bystander client of scenario 6, alone in its process: a client that needs its
 * answer in time (grpc-js, one connection of its own, a fixed call rate, a deadline on
 * every call) and records each call's status and latency as it sees it. In a process of
 * its own so that neither the bench's other work nor the load generator's share of the
 * CPU is measured as the gateway's latency.
 */
import * as grpc from "@grpc/grpc-js";
import { status as Status } from "@grpc/grpc-js";
import { serveIpc } from "./ipc";

const identity = (b: Buffer): Buffer => b;

let client: grpc.Client | undefined;

serveIpc(
  {
    /**
     * Calls `path` at `perSec` for `sec` seconds, each with `deadlineMs`; replies with
     * the latencies of OK and RESOURCE_EXHAUSTED calls and the count of every other code.
     */
    async probe(msg) {
      const address = String(msg.address);
      const path = String(msg.path);
      const message = Buffer.from(String(msg.message), "base64");
      const sec = Number(msg.sec);
      const perSec = Number(msg.perSec);
      const deadlineMs = Number(msg.deadlineMs ?? 2000);
      const headers = (msg.headers ?? {}) as Record<string, string>;
      // One connection for the whole probe, made before the first measured call.
      client ??= new grpc.Client(address, grpc.credentials.createInsecure(), {
        "grpc.max_receive_message_length": -1,
        // Flow-control windows (stream and connection) that hold a few replies, as a
        // grpc-go client's BDP-grown windows and h2load's do: with grpc-js's default 64 KiB
        // every 75 KB reply needs WINDOW_UPDATE round trips through the loaded gateway, so
        // 50 calls/s of them outrun the probe's own connection and queue on the probe's side.
        "grpc-node.flow_control_window": 4 * 1024 * 1024,
      });
      await new Promise<void>((resolve, reject) =>
        client!.waitForReady(Date.now() + 5000, (err) => (err ? reject(err) : resolve())),
      );
      const ok: number[] = [];
      const refused: number[] = [];
      const others: Record<string, number> = {};
      const calls: Promise<void>[] = [];
      const start = performance.now();
      const total = Math.round(sec * perSec);
      for (let i = 0; i < total; i++) {
        // Calls on a fixed schedule (open loop): a late call does not delay the next.
        const due = start + (i * 1000) / perSec;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const started = performance.now();
        const md = new grpc.Metadata();
        for (const [k, v] of Object.entries(headers)) md.set(k, v);
        calls.push(
          new Promise<void>((resolve) => {
            client!.makeUnaryRequest(
              path,
              identity,
              identity,
              message,
              md,
              { deadline: Date.now() + deadlineMs },
              (err) => {
                const ms = performance.now() - started;
                if (!err) ok.push(ms);
                else if (err.code === Status.RESOURCE_EXHAUSTED) refused.push(ms);
                else
                  others[Status[err.code] ?? String(err.code)] =
                    (others[Status[err.code] ?? String(err.code)] ?? 0) + 1;
                resolve();
              },
            );
          }),
        );
      }
      await Promise.all(calls);
      return { ok, refused, others };
    },
  },
  async () => {
    client?.close();
  },
);
