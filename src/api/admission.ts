/**
 * Which client calls the gateway takes on: at most `maxConcurrentCalls` at once
 * gateway-wide and `maxConcurrentCallsPerConnection` per client connection (more get
 * RESOURCE_EXHAUSTED at once rather than queueing until everything collapses), and
 * none once draining for shutdown (UNAVAILABLE, so clients go elsewhere).
 */
import { status as Status } from "@grpc/grpc-js";
import { GatewayError } from "../core/errors";
import { Topic } from "../core/topic";

export interface AdmissionOptions {
  maxConcurrentCalls: number;
  maxConcurrentCallsPerConnection: number;
}

export type AdmissionRefusal = "draining" | "global" | "connection";

export class CallAdmission {
  private inFlight = 0;
  /** Calls in flight per connection (peer address); entries live only while calls do. */
  private readonly perConnection = new Map<string, number>();
  private draining = false;
  private idleWaiters: (() => void)[] = [];
  /** Each refused call, by why (metrics). */
  readonly refusals = new Topic<AdmissionRefusal>();

  constructor(private readonly opts: AdmissionOptions) {}

  get active(): number {
    return this.inFlight;
  }

  private refuse(why: AdmissionRefusal, err: GatewayError): never {
    this.refusals.publish(why);
    throw err;
  }

  /** Admits one call from `peer` or throws an GatewayError; call the returned release once when done. */
  enter(peer: string): () => void {
    if (this.draining) this.refuse("draining", new GatewayError(Status.UNAVAILABLE, "the gateway is shutting down"));
    if (this.inFlight >= this.opts.maxConcurrentCalls) {
      this.refuse(
        "global",
        new GatewayError(
          Status.RESOURCE_EXHAUSTED,
          `too many calls in flight (api.maxConcurrentCalls = ${this.opts.maxConcurrentCalls}); retry later`,
        ),
      );
    }
    const mine = this.perConnection.get(peer) ?? 0;
    if (mine >= this.opts.maxConcurrentCallsPerConnection) {
      this.refuse(
        "connection",
        new GatewayError(
          Status.RESOURCE_EXHAUSTED,
          `too many calls in flight on this connection (api.maxConcurrentCallsPerConnection = ${this.opts.maxConcurrentCallsPerConnection})`,
        ),
      );
    }
    this.inFlight++;
    this.perConnection.set(peer, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      const left = (this.perConnection.get(peer) ?? 1) - 1;
      if (left <= 0) this.perConnection.delete(peer);
      else this.perConnection.set(peer, left);
      if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
  }

  /** Refuses new calls from now on; resolves true when in-flight calls finished, false after `graceMs`. */
  drain(graceMs: number): Promise<boolean> {
    this.draining = true;
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), graceMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  get isDraining(): boolean {
    return this.draining;
  }
}
