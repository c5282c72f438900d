/**
 * Which Executor release a simulated Executor behaves like (spec §4, §7). Releases of
 * the v2 wire generation differ in their error-code family and in what `timeEnd = 0`
 * means. One row per release; a new generation adds its row (and, where its wire
 * differs, the code that reads it).
 */
import type { Generation } from "../generations/list-request";

export const EXECUTOR_VERSIONS = ["v1", "v2", "v3"] as const;
export type ExecutorVersion = (typeof EXECUTOR_VERSIONS)[number];

/** The default: a v2.x Executor (v2.0.0, v2.0.1). */
export const DEFAULT_EXECUTOR_VERSION: ExecutorVersion = "v2";

export interface ExecutorBehaviour {
  /** The xdb errorx codes this release embeds in its errors. */
  codes: { internal: string; param: string; notFound: string; badSignature: string };
  /** `timeEnd <= 0` is no upper bound (v2.0.0 and later); before, it matched nothing. */
  openEndedTimeEnd: boolean;
  /**
   * The wire generation (spec §10): v3 (PaddleDTX main) reads the v3 ListTaskRequest
   * layout with its key semantics and accepts only v3-signed prediction requests.
   */
  generation: Generation;
}

export const EXECUTOR_BEHAVIOUR: Readonly<Record<ExecutorVersion, ExecutorBehaviour>> = {
  v1: {
    codes: { internal: "XDAT0001", param: "XDAT0002", notFound: "XDAT0004", badSignature: "XDAT0008" },
    openEndedTimeEnd: false,
    generation: "v2",
  },
  v2: {
    codes: { internal: "10001", param: "10002", notFound: "10004", badSignature: "10008" },
    openEndedTimeEnd: true,
    generation: "v2",
  },
  v3: {
    codes: { internal: "10001", param: "10002", notFound: "10004", badSignature: "10008" },
    openEndedTimeEnd: true,
    generation: "v3",
  },
};

export function isExecutorVersion(s: string): s is ExecutorVersion {
  return (EXECUTOR_VERSIONS as readonly string[]).includes(s);
}
