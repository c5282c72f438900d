/**
 * Which generation each Executor speaks, and what each is asked for a client's query.
 *
 * An Executor's generation is configured, never guessed: a v2 and a v3 Executor read
 * each other's ListTaskRequest without an error and answer the wrong query (spec §10),
 * so no probe can tell them apart safely. `executors.generation` is the default (it is
 * also what discovered Executors get); a seed may say `generation` for itself.
 */
import type { ListQuery } from "../merge/filter";
import { parseAddress } from "../upstream/address";
import { encodeListRequest, type Generation, type ListRequestFields } from "./list-request";

export class ExecutorGenerations {
  private readonly overrides = new Map<string, Generation>();

  constructor(readonly defaultGeneration: Generation = "v2") {}

  /** A seed's own generation (its canonical address). */
  set(address: string, generation: Generation): void {
    const c = parseAddress(address)?.canonical ?? address;
    this.overrides.set(c, generation);
  }

  of(address: string): Generation {
    // No seed says its own generation (the usual case): nothing to parse, per Executor per fan-out.
    if (this.overrides.size === 0) return this.defaultGeneration;
    return (
      this.overrides.get(address) ??
      this.overrides.get(parseAddress(address)?.canonical ?? address) ??
      this.defaultGeneration
    );
  }

  static fromConfig(executors: {
    generation: Generation;
    seeds: readonly (string | { address: string; generation?: Generation })[];
  }): ExecutorGenerations {
    const g = new ExecutorGenerations(executors.generation);
    for (const s of executors.seeds) if (typeof s !== "string" && s.generation) g.set(s.address, s.generation);
    return g;
  }
}

/**
 * The ListQuery a request asks (generation-neutral). v3 key semantics (spec §10): one key
 * selects as v2's `pubKey` does, whichever field it came in, so an executor key alone
 * becomes `pubKey`; both keys select tasks of that requester AND that executor (`ePubKey`).
 */
export function listQueryOf(fields: ListRequestFields): ListQuery {
  const both = fields.pubKey.length > 0 && fields.ePubKey.length > 0;
  return {
    pubKey: Buffer.from(fields.pubKey.length > 0 ? fields.pubKey : fields.ePubKey),
    ...(both ? { ePubKey: Buffer.from(fields.ePubKey) } : {}),
    status: fields.status,
    timeStart: fields.timeStart,
    timeEnd: fields.timeEnd,
    limit: fields.limit,
  };
}

/**
 * What one Executor of `generation` is asked for `sent` (the query the fan-out forwards,
 * src/fanout/reduce.ts `sentQuery`): the query its reply is screened against and the
 * request bytes in its own layout. A v2 Executor cannot apply v3's requester-AND-executor
 * filter: it is asked for the requester's tasks, uncapped, and the gateway applies the
 * executor key after merging (the client's query, in the reduce).
 */
export function upstreamListRequest(generation: Generation, sent: ListQuery): { sent: ListQuery; bytes: Buffer } {
  const ePubKey = sent.ePubKey && sent.ePubKey.length > 0 ? sent.ePubKey : undefined;
  if (generation === "v2" && ePubKey) {
    const widened: ListQuery = { ...sent, limit: 0n };
    delete widened.ePubKey;
    return { sent: widened, bytes: encodeListRequest({ ...widened, ePubKey: Buffer.alloc(0) }, "v2") };
  }
  return { sent, bytes: encodeListRequest({ ...sent, ePubKey: ePubKey ?? Buffer.alloc(0) }, generation) };
}
