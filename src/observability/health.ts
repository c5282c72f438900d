/**
 * What "ready" means, in one place, for both HTTP `/readyz` and the gRPC health
 * checking protocol (`grpc.health.v1.Health`, services "" and "task.Task"):
 *
 *   ready = the Task API is bound and not shutting down, and the Executor set is not empty.
 *
 * Deliberately NOT part of readiness:
 * - Executors answering. An Executor outage is not cured by taking gateways out of
 *   rotation; a ready gateway still answers with what it can (cache, partial answers,
 *   clear UNAVAILABLE). `dai_gateway_executors{set="healthy"}` and the alerts say it.
 * - Redis. The cache bypasses Redis when it is down; answers stay correct, only slower.
 */
import type * as grpc from "@grpc/grpc-js";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";

export const HEALTH_SERVICES = ["", "task.Task"] as const;

export interface Readiness {
  ready: boolean;
  serving: boolean;
  executors: { known: number; healthy: number };
}

export class GatewayHealth {
  private readonly grpcHealth = new HealthImplementation(
    Object.fromEntries(HEALTH_SERVICES.map((s) => [s, "NOT_SERVING" as ServingStatus])),
  );
  private serving = false;
  /** Open health Watch streams; ended at shutdown (they never end on their own). */
  private readonly watches = new Set<{ end(): void }>();

  constructor(private readonly executors: () => { known: number; healthy: number }) {}

  addToServer(server: grpc.Server): void {
    this.grpcHealth.addToServer({
      addService: (service, impl) => {
        const watch = impl.watch as grpc.handleServerStreamingCall<unknown, unknown>;
        const tracked: grpc.handleServerStreamingCall<unknown, unknown> = (call) => {
          this.watches.add(call);
          const forget = (): boolean => this.watches.delete(call);
          call.once("cancelled", forget);
          call.once("finish", forget);
          watch(call);
        };
        server.addService(service as grpc.ServiceDefinition, { ...impl, watch: tracked });
      },
    });
  }

  /** The Task API is bound and accepting calls. */
  markServing(): void {
    this.serving = true;
    this.refresh();
  }

  /** Shutdown began: say NOT_SERVING before the listener closes, so balancers drain first. */
  markShuttingDown(): void {
    this.serving = false;
    this.refresh();
  }

  /** Ends open Watch streams (after they were sent NOT_SERVING) so the server can drain. */
  endWatches(): void {
    for (const call of this.watches) call.end();
    this.watches.clear();
  }

  /** Re-evaluates readiness and publishes it to gRPC health watchers (call when the set changes). */
  refresh(): Readiness {
    const r = this.readiness();
    const status: ServingStatus = r.ready ? "SERVING" : "NOT_SERVING";
    for (const s of HEALTH_SERVICES) this.grpcHealth.setStatus(s, status);
    return r;
  }

  readiness(): Readiness {
    const executors = this.executors();
    return { ready: this.serving && executors.known > 0, serving: this.serving, executors };
  }
}

/** Graceful stop of the gRPC server: in-flight calls may finish within `drainTimeoutMs`, then are cut. */
export async function shutdownGrpcServer(server: grpc.Server, drainTimeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const drained = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, drainTimeoutMs);
  });
  await Promise.race([drained, timedOut]);
  clearTimeout(timer);
  server.forceShutdown();
}
