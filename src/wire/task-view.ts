/**
 * Partial decoding of FLTask bytes: only what merging, filtering and routing need.
 *
 * The gateway never re-encodes a task. Each task keeps the exact bytes an Executor
 * sent (`raw`), so fields this schema does not know (newer Executors add some) reach
 * the client unchanged, and replies are assembled by concatenation.
 */
import { isUtf8 } from "node:buffer";

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
const EMPTY = Buffer.alloc(0);
const WT_VARINT = 0;
const WT_FIXED64 = 1;
const WT_LEN = 2;
const WT_START_GROUP = 3;
const WT_END_GROUP = 4;
const WT_FIXED32 = 5;

// Non-fatal and keeping a leading BOM: the same decoding the generated (bufbuild) code uses.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * A minimal protobuf reader over [pos, end) of one buffer. It is the gateway's hottest
 * code (every task of every Executor reply goes through it), so it allocates nothing
 * per field: nested messages are read in place, key fields are views into the task's
 * own bytes, and a varint is kept as two 32-bit halves (`lo`, `hi`).
 */
class Reader {
  lo = 0;
  hi = 0;

  constructor(
    readonly buf: Buffer,
    public pos: number,
    /** Mutable only for scanTaskList, which reads each task in place with one reader. */
    public end: number,
  ) {}

  private byte(): number {
    if (this.pos >= this.end) throw new WireError("truncated varint");
    return this.buf[this.pos++]!;
  }

  /** Reads a varint of up to 10 bytes into lo/hi. */
  varint(): void {
    let lo = 0;
    let b: number;
    for (let shift = 0; shift < 28; shift += 7) {
      b = this.byte();
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.lo = lo >>> 0;
        this.hi = 0;
        return;
      }
    }
    b = this.byte();
    lo |= (b & 0x0f) << 28;
    let hi = (b & 0x7f) >> 4;
    if (b < 0x80) {
      this.lo = lo >>> 0;
      this.hi = hi >>> 0;
      return;
    }
    for (let shift = 3; shift <= 31; shift += 7) {
      b = this.byte();
      hi |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        return;
      }
    }
    throw new WireError("varint longer than 10 bytes");
  }

  uint32(): number {
    this.varint();
    return this.lo;
  }

  int32(): number {
    this.varint();
    return this.lo | 0;
  }

  bool(): boolean {
    this.varint();
    return this.lo !== 0 || this.hi !== 0;
  }

  int64(): bigint {
    this.varint();
    if (this.hi === 0) return BigInt(this.lo);
    return BigInt.asIntN(64, (BigInt(this.hi) << 32n) | BigInt(this.lo));
  }

  /** Skips to the end of a length-delimited field and returns where it starts. */
  lengthDelimited(): number {
    const len = this.uint32();
    const start = this.pos;
    if (start + len > this.end) throw new WireError("truncated length-delimited field");
    this.pos = start + len;
    return start;
  }

  bytes(): Buffer {
    const start = this.lengthDelimited();
    return this.buf.subarray(start, this.pos);
  }

  string(): string {
    const start = this.lengthDelimited();
    const { buf, pos } = this;
    for (let i = start; i < pos; i++) {
      if (buf[i]! >= 0x80) return utf8.decode(buf.subarray(start, pos));
    }
    // ASCII (IDs, statuses, addresses): no decoder needed.
    return buf.toString("latin1", start, pos);
  }

  /** field number << 3 | wire type */
  tag(): number {
    const t = this.uint32();
    if (t >>> 3 === 0) throw new WireError("illegal tag: field number 0");
    return t;
  }

  skip(wireType: number, field: number, depth = MAX_DEPTH): void {
    switch (wireType) {
      case WT_VARINT:
        this.varint();
        return;
      case WT_FIXED64:
        this.advance(8);
        return;
      case WT_LEN:
        this.lengthDelimited();
        return;
      case WT_FIXED32:
        this.advance(4);
        return;
      case WT_START_GROUP: {
        if (depth <= 0) throw new WireError("groups nested too deeply");
        for (;;) {
          const t = this.tag();
          const wt = t & 7;
          if (wt === WT_END_GROUP) {
            if (t >>> 3 !== field) throw new WireError("mismatched end group");
            return;
          }
          this.skip(wt, t >>> 3, depth - 1);
        }
      }
      default:
        throw new WireError(`invalid wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new WireError("truncated fixed-width field");
    this.pos += n;
  }
}

function decodeDataSet(buf: Buffer, start: number, end: number): DataSetView {
  const r = new Reader(buf, start, end);
  const ds: DataSetView = {
    executor: EMPTY,
    address: "",
    isTagPart: false,
    confirmedAt: 0n,
    rejectedAt: 0n,
  };
  while (r.pos < end) {
    const t = r.tag();
    const field = t >>> 3;
    const wt = t & 7;
    if (field === 2 && wt === WT_LEN) ds.executor = r.bytes();
    else if (field === 5 && wt === WT_VARINT) ds.confirmedAt = r.int64();
    else if (field === 6 && wt === WT_VARINT) ds.rejectedAt = r.int64();
    else if (field === 7 && wt === WT_LEN) ds.address = r.string();
    else if (field === 8 && wt === WT_VARINT) ds.isTagPart = r.bool();
    else r.skip(wt, field);
  }
  return ds;
}

function decodeAlgoParam(buf: Buffer, start: number, end: number, task: TaskView): void {
  const r = new Reader(buf, start, end);
  while (r.pos < end) {
    const t = r.tag();
    const field = t >>> 3;
    const wt = t & 7;
    if (field === 2 && wt === WT_VARINT) task.taskType = r.int32();
    else if (field === 4 && wt === WT_LEN) task.modelTaskID = r.string();
    else r.skip(wt, field);
  }
}

/**
 * Decodes the fields the gateway needs from one FLTask encoding. Throws WireError on
 * malformed bytes. `requester` and `dataSets[].executor` are views into `raw`.
 */
export function decodeTaskView(raw: Buffer): TaskView {
  const task: TaskView = {
    id: "",
    status: "",
    requester: EMPTY,
    errMessage: "",
    publishTime: 0n,
    startTime: 0n,
    endTime: 0n,
    taskType: 0,
    modelTaskID: "",
    dataSets: [],
    raw,
  };
  const r = new Reader(raw, 0, raw.length);
  try {
    while (r.pos < raw.length) {
      const t = r.tag();
      const field = t >>> 3;
      const wt = t & 7;
      if (field === 1 && wt === WT_LEN) task.id = r.string();
      else if (field === 4 && wt === WT_LEN) task.requester = r.bytes();
      else if (field === 5 && wt === WT_LEN) {
        const start = r.lengthDelimited();
        task.dataSets.push(decodeDataSet(raw, start, r.pos));
      } else if (field === 6 && wt === WT_LEN) {
        const start = r.lengthDelimited();
        decodeAlgoParam(raw, start, r.pos, task);
      } else if (field === 7 && wt === WT_LEN) task.status = r.string();
      else if (field === 8 && wt === WT_LEN) task.errMessage = r.string();
      else if (field === 10 && wt === WT_VARINT) task.publishTime = r.int64();
      else if (field === 11 && wt === WT_VARINT) task.startTime = r.int64();
      else if (field === 12 && wt === WT_VARINT) task.endTime = r.int64();
      else r.skip(wt, field);
    }
  } catch (err) {
    if (err instanceof WireError) throw new WireError(`malformed FLTask: ${err.message}`);
    throw err;
  }
  return task;
}

/**
 * Which length-delimited fields of a message are themselves messages or `string`s (per
 * proto/), by field number: what a client's full decode recurses into or validates. A
 * proto3 `string` must be valid UTF-8 for protobuf-go, the stock PaddleDTX clients'
 * decoder (it refuses the whole message otherwise). Every other field is only framed
 * (wire type, length). Fields of other wire types than the declared one are skipped by
 * every stock decoder (unknown fields), so are they here.
 */
interface Shape {
  readonly [field: number]: readonly [name: string, shape: Shape | typeof STRING];
}
const STRING = "string";
const SCALARS: Shape = {};
// map<string, double>: entries of key = 1 (string), value = 2.
const STRING_MAP_ENTRY: Shape = { 1: ["key", STRING] };
const EVALUATION_PARAMS: Shape = { 3: ["randomSplit", SCALARS], 4: ["cv", SCALARS] };
const LIVE_EVALUATION_PARAMS: Shape = { 2: ["randomSplit", SCALARS] };
const TRAIN_PARAMS: Shape = { 1: ["label", STRING], 2: ["labelName", STRING], 9: ["idName", STRING] };
const TRAIN_MODELS: Shape = {
  1: ["thetas", STRING_MAP_ENTRY],
  2: ["xbars", STRING_MAP_ENTRY],
  3: ["sigmas", STRING_MAP_ENTRY],
  4: ["label", STRING],
  6: ["idName", STRING],
  7: ["path", STRING],
};
const TASK_PARAMS: Shape = {
  3: ["trainParams", TRAIN_PARAMS],
  4: ["modelTaskID", STRING],
  5: ["modelParams", TRAIN_MODELS],
  6: ["evalParams", EVALUATION_PARAMS],
  7: ["livalParams", LIVE_EVALUATION_PARAMS],
};
const DATA_FOR_TASK: Shape = { 3: ["dataID", STRING], 4: ["PSILabel", STRING], 7: ["address", STRING] };
const FL_TASK: Shape = {
  1: ["iD", STRING],
  2: ["name", STRING],
  3: ["description", STRING],
  5: ["dataSets", DATA_FOR_TASK],
  6: ["algoParam", TASK_PARAMS],
  7: ["status", STRING],
  8: ["errMessage", STRING],
  9: ["result", STRING],
};

/** A WireError inside a nested message, with the field path to it. */
class ShapeError extends WireError {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

/** Walks [r.pos, r.end) as a message of `shape`; throws WireError naming the nested field. */
function checkShape(r: Reader, shape: Shape): void {
  const end = r.end;
  while (r.pos < end) {
    const t = r.tag();
    const field = t >>> 3;
    const wt = t & 7;
    const nested = wt === WT_LEN ? shape[field] : undefined;
    if (nested === undefined) {
      r.skip(wt, field);
      continue;
    }
    const start = r.lengthDelimited();
    const stop = r.pos;
    if (nested[1] === STRING) {
      if (!isUtf8(r.buf.subarray(start, stop))) throw new ShapeError(nested[0], "invalid UTF-8 in a string field");
      continue;
    }
    r.pos = start;
    r.end = stop;
    try {
      checkShape(r, nested[1]);
    } catch (err) {
      if (err instanceof ShapeError) throw new ShapeError(`${nested[0]}.${err.path}`, err.problem);
      if (err instanceof WireError) throw new ShapeError(nested[0], err.message);
      throw err;
    }
    r.end = end;
  }
}

/**
 * Checks that every nested message of an FLTask encoding is well-formed, recursively
 * (what a stock client's full decode needs), without decoding any value. Throws
 * WireError ("malformed FLTask: algoParam.trainParams: truncated …"). Run only on tasks
 * that reach a client: the answer's, and GetTaskById copies.
 */
export function checkTaskStructure(raw: Buffer): void {
  try {
    checkShape(new Reader(raw, 0, raw.length), FL_TASK);
  } catch (err) {
    if (err instanceof WireError) throw new WireError(`malformed FLTask: ${err.message}`);
    throw err;
  }
}

/** decodeTaskView, and the bytes are a task a stock client can decode whole (checkTaskStructure). */
export function decodeTaskChecked(raw: Buffer): TaskView {
  const v = decodeTaskView(raw);
  checkTaskStructure(raw);
  return v;
}

/** Splits an FLTasks encoding into its tasks, keeping each task's own bytes. */
export function decodeTaskList(buf: Buffer): TaskView[] {
  const tasks: TaskView[] = [];
  const r = new Reader(buf, 0, buf.length);
  try {
    while (r.pos < buf.length) {
      const t = r.tag();
      const field = t >>> 3;
      const wt = t & 7;
      if (field === 1 && wt === WT_LEN) {
        const start = r.lengthDelimited();
        // Copy: the task may outlive the reply buffer (caches keep it).
        tasks.push(decodeTaskView(Buffer.from(buf.subarray(start, r.pos))));
      } else {
        r.skip(wt, field);
      }
    }
  } catch (err) {
    if (err instanceof WireError && !err.message.startsWith("malformed")) {
      throw new WireError(`malformed FLTasks: ${err.message}`);
    }
    throw err;
  }
  return tasks;
}

function varintSize(n: number): number {
  let size = 1;
  while (n > 0x7f) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/**
 * Assembles an FLTasks reply from task bytes, without re-encoding any task. One
 * allocation and one copy per task: this runs for every reply, cache hits included.
 */
export function encodeTaskList(tasks: readonly { raw: Buffer }[]): Buffer {
  let total = 0;
  for (const t of tasks) total += 1 + varintSize(t.raw.length) + t.raw.length;
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (const t of tasks) {
    out[pos++] = 0x0a; // field 1, length-delimited
    let n = t.raw.length;
    while (n > 0x7f) {
      out[pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    out[pos++] = n;
    pos += t.raw.copy(out, pos);
  }
  return out;
}

const encodedLists = new WeakMap<readonly { raw: Buffer }[], Buffer>();

/**
 * encodeTaskList, memoised per array: a cached answer served many times is assembled once.
 * Only for arrays that never change after this call (cache snapshots, fan-out results).
 */
export function encodeTaskListOnce(tasks: readonly { raw: Buffer }[]): Buffer {
  let out = encodedLists.get(tasks);
  if (out === undefined) {
    out = encodeTaskList(tasks);
    encodedLists.set(tasks, out);
  }
  return out;
}

/** Where one task sits in an FLTasks reply, with the two fields the list order needs. */
export interface TaskKey {
  /** The task's bytes: [start, end) of the reply. */
  start: number;
  end: number;
  /** Decoded exactly as decodeTaskView decodes them (last occurrence wins). */
  id: string;
  publishTime: bigint;
}

/**
 * Reads only (ID, publishTime) of each task of an FLTasks reply, skipping every other
 * field without decoding it. The reply's framing and each task's top-level fields are
 * checked as decodeTaskList checks them (WireError); what nested messages (data sets,
 * algorithm parameters) hold is not looked at.
 */
export function scanTaskList(buf: Buffer): TaskKey[];
export function scanTaskList(
  buf: Buffer,
  onTask: (start: number, end: number, id: string, publishTime: bigint) => void,
): number;
export function scanTaskList(
  buf: Buffer,
  onTask?: (start: number, end: number, id: string, publishTime: bigint) => void,
): TaskKey[] | number {
  const keys: TaskKey[] = [];
  let count = 0;
  const r = new Reader(buf, 0, buf.length);
  try {
    while (r.pos < buf.length) {
      const t = r.tag();
      if (t >>> 3 === 1 && (t & 7) === WT_LEN) {
        const start = r.lengthDelimited();
        const end = r.pos;
        let id = "";
        let publishTime = 0n;
        // The same reader, narrowed to the task, then widened back.
        r.pos = start;
        r.end = end;
        try {
          while (r.pos < end) {
            const tt = r.tag();
            const field = tt >>> 3;
            const wt = tt & 7;
            if (field === 1 && wt === WT_LEN) id = r.string();
            else if (field === 10 && wt === WT_VARINT) publishTime = r.int64();
            else r.skip(wt, field);
          }
        } catch (err) {
          if (err instanceof WireError) throw new WireError(`malformed FLTask: ${err.message}`);
          throw err;
        }
        r.end = buf.length;
        count++;
        if (onTask) onTask(start, end, id, publishTime);
        else keys.push({ start, end, id, publishTime });
      } else {
        r.skip(t & 7, t >>> 3);
      }
    }
  } catch (err) {
    if (err instanceof WireError && !err.message.startsWith("malformed")) {
      throw new WireError(`malformed FLTasks: ${err.message}`);
    }
    throw err;
  }
  return onTask ? count : keys;
}
