/**
 * The one table of Executor error codes (spec §7) and the gRPC status each maps to.
 *
 * Executors answer with plain errors: gRPC UNKNOWN whose message embeds
 * `{"code":"...","message":"..."}`. Two families of the same xdb `errorx` codes exist
 * — v2.x (`100xx`, since 2022-05) and v1.x (`XDAT00xx`) — plus the PaddleFL side's
 * `PX00xx`. A code is mapped by its value alone, never by the message around it.
 * README "Errors" shows this table; test/unit/error-codes.test.ts checks the two agree.
 */
import { status as Status } from "@grpc/grpc-js";

export interface ErrorCodeRow {
  meaning: string;
  /** v2.x xdb errorx code. */
  v2?: string;
  /** v1.x xdb errorx code. */
  v1?: string;
  /** PaddleFL (dai/errcodes) code. */
  px?: string;
  status: Status;
}

export const ERROR_CODE_TABLE: readonly ErrorCodeRow[] = [
  { meaning: "internal", v2: "10001", v1: "XDAT0001", px: "PX0001", status: Status.INTERNAL },
  { meaning: "bad parameter", v2: "10002", v1: "XDAT0002", px: "PX0002", status: Status.INVALID_ARGUMENT },
  { meaning: "configuration", v2: "10003", v1: "XDAT0003", px: "PX0003", status: Status.INTERNAL },
  { meaning: "not found", v2: "10004", v1: "XDAT0004", px: "PX0004", status: Status.NOT_FOUND },
  { meaning: "encoding", v2: "10005", v1: "XDAT0005", px: "PX0005", status: Status.INTERNAL },
  { meaning: "not authorized", v2: "10006", v1: "XDAT0006", status: Status.PERMISSION_DENIED },
  { meaning: "unknown (PaddleFL)", px: "PX0006", status: Status.UNKNOWN },
  { meaning: "already exists", v2: "10007", v1: "XDAT0007", px: "PX0012", status: Status.ALREADY_EXISTS },
  { meaning: "bad signature", v2: "10008", v1: "XDAT0008", status: Status.UNAUTHENTICATED },
  { meaning: "crypto", v2: "10009", v1: "XDAT0009", status: Status.INTERNAL },
  { meaning: "expired", v2: "10010", v1: "XDAT0010", status: Status.FAILED_PRECONDITION },
  { meaning: "reading the blockchain", v2: "10011", v1: "XDAT0011", status: Status.UNAVAILABLE },
  { meaning: "writing the blockchain", v2: "10012", v1: "XDAT0012", status: Status.UNAVAILABLE },
  { meaning: "duplicate update", v2: "10013", v1: "XDAT0013", status: Status.ABORTED },
  { meaning: "too many tasks (PaddleFL)", px: "PX0011", status: Status.RESOURCE_EXHAUSTED },
];

/** Every code of the table, any family -> its status. */
export const UPSTREAM_CODE_STATUS: ReadonlyMap<string, Status> = new Map(
  ERROR_CODE_TABLE.flatMap((row) =>
    [row.v2, row.v1, row.px].filter((c): c is string => c !== undefined).map((c) => [c, row.status] as const),
  ),
);

/**
 * The status of an Executor error code; UNKNOWN for a code not in the table (other
 * PaddleFL `PX00xx` codes are failures of a task's computation, not of a Task API call).
 */
export function statusOfErrorCode(code: string): Status {
  return UPSTREAM_CODE_STATUS.get(code) ?? Status.UNKNOWN;
}
