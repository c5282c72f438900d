/**
 * Partial decoding of FLTask bytes: only what merging, filtering and routing need.
 *
 * The gateway never re-encodes a task. Each task keeps the exact bytes an Executor
 * sent (`raw`), so fields this schema does not know (newer Executors add some) reach
 * the client unchanged, and replies are assembled by concatenation.
 */
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

export interface DataSetView {
  executor: Buffer;
  address: string;
  isTagPart: boolean;
  confirmedAt: bigint;
  rejectedAt: bigint;
}

export interface TaskView {
  id: string;
  status: string;
  requester: Buffer;
  errMessage: string;
  publishTime: bigint;
  startTime: bigint;
  endTime: bigint;
  /** common.TaskType: 0 LEARN, 1 PREDICT. */
  taskType: number;
  modelTaskID: string;
  dataSets: DataSetView[];
  /** The FLTask encoding exactly as received. */
  raw: Buffer;
}

export class WireError extends Error {
  override name = "WireError";
}

const MAX_DEPTH = 32;

function asBigInt(v: bigint | string): bigint {
  return typeof v === "bigint" ? v : BigInt(v);
}

/** Reads a length-delimited field and returns a zero-copy view of its bytes. */
function readLengthDelimited(reader: BinaryReader, buf: Buffer): Buffer {
  const len = reader.uint32();
  const start = reader.pos;
  const end = start + len;
  if (end > buf.length) throw new WireError("truncated length-delimited field");
  reader.pos = end;
  return buf.subarray(start, end);
}

function decodeDataSet(buf: Buffer): DataSetView {
  const r = new BinaryReader(buf);
  const ds: DataSetView = {
    executor: Buffer.alloc(0),
    address: "",
    isTagPart: false,
    confirmedAt: 0n,
    rejectedAt: 0n,
  };
  while (r.pos < buf.length) {
    const [field, wt] = r.tag();
    if (field === 2 && wt === WireType.LengthDelimited) ds.executor = Buffer.from(readLengthDelimited(r, buf));
    else if (field === 5 && wt === WireType.Varint) ds.confirmedAt = asBigInt(r.int64());
    else if (field === 6 && wt === WireType.Varint) ds.rejectedAt = asBigInt(r.int64());
    else if (field === 7 && wt === WireType.LengthDelimited) ds.address = r.string();
    else if (field === 8 && wt === WireType.Varint) ds.isTagPart = r.bool();
    else r.skip(wt, field, MAX_DEPTH);
  }
  return ds;
}

function decodeAlgoParam(buf: Buffer, task: TaskView): void {
  const r = new BinaryReader(buf);
  while (r.pos < buf.length) {
    const [field, wt] = r.tag();
    if (field === 2 && wt === WireType.Varint) task.taskType = r.int32();
    else if (field === 4 && wt === WireType.LengthDelimited) task.modelTaskID = r.string();
    else r.skip(wt, field, MAX_DEPTH);
  }
}

/** Decodes the fields the gateway needs from one FLTask encoding. Throws WireError on malformed bytes. */
export function decodeTaskView(raw: Buffer): TaskView {
  const task: TaskView = {
    id: "",
    status: "",
    requester: Buffer.alloc(0),
    errMessage: "",
    publishTime: 0n,
    startTime: 0n,
    endTime: 0n,
    taskType: 0,
    modelTaskID: "",
    dataSets: [],
    raw,
  };
  try {
    const r = new BinaryReader(raw);
    while (r.pos < raw.length) {
      const [field, wt] = r.tag();
      if (field === 1 && wt === WireType.LengthDelimited) task.id = r.string();
      else if (field === 4 && wt === WireType.LengthDelimited)
        task.requester = Buffer.from(readLengthDelimited(r, raw));
      else if (field === 5 && wt === WireType.LengthDelimited)
        task.dataSets.push(decodeDataSet(readLengthDelimited(r, raw)));
      else if (field === 6 && wt === WireType.LengthDelimited) decodeAlgoParam(readLengthDelimited(r, raw), task);
      else if (field === 7 && wt === WireType.LengthDelimited) task.status = r.string();
      else if (field === 8 && wt === WireType.LengthDelimited) task.errMessage = r.string();
      else if (field === 10 && wt === WireType.Varint) task.publishTime = asBigInt(r.int64());
      else if (field === 11 && wt === WireType.Varint) task.startTime = asBigInt(r.int64());
      else if (field === 12 && wt === WireType.Varint) task.endTime = asBigInt(r.int64());
      else r.skip(wt, field, MAX_DEPTH);
    }
    if (r.pos !== raw.length) throw new WireError("trailing bytes after last field");
  } catch (err) {
    if (err instanceof WireError) throw err;
    throw new WireError(`malformed FLTask: ${(err as Error).message}`);
  }
  return task;
}

/** Splits an FLTasks encoding into its tasks, keeping each task's own bytes. */
export function decodeTaskList(buf: Buffer): TaskView[] {
  const tasks: TaskView[] = [];
  try {
    const r = new BinaryReader(buf);
    while (r.pos < buf.length) {
      const [field, wt] = r.tag();
      if (field === 1 && wt === WireType.LengthDelimited) {
        // Copy: the task may outlive the reply buffer (caches keep it).
        tasks.push(decodeTaskView(Buffer.from(readLengthDelimited(r, buf))));
      } else {
        r.skip(wt, field, MAX_DEPTH);
      }
    }
  } catch (err) {
    if (err instanceof WireError) throw err;
    throw new WireError(`malformed FLTasks: ${(err as Error).message}`);
  }
  return tasks;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** Assembles an FLTasks reply from task bytes, without re-encoding any task. */
export function encodeTaskList(tasks: readonly { raw: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const t of tasks) {
    parts.push(Buffer.of(0x0a), varint(t.raw.length), t.raw);
  }
  return Buffer.concat(parts);
}
