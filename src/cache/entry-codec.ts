/**
 * Cache values as small protobuf messages. Tasks stay the Executors' own bytes: a list
 * entry carries an FLTasks encoding (what ListTask replies with), a task entry one
 * FLTask. Field 1 is the format version, also part of every key, so an upgraded
 * gateway never misreads an older entry (it just misses).
 *
 *   ListEntry  { 1 format; 2 fetchedAtMs; 3 fetchEnd; 4 fetchLimit; 5 cut; 6 FLTasks bytes; 7 repeated answered }
 *   TaskEntry  { 1 format; 2 fetchedAtMs; 3 setId; 4 FLTask bytes; 5 repeated answered }
 *   Holders    { 1 format; 2 repeated address }
 */
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { decodeTaskList, decodeTaskView, encodeTaskList, type TaskView } from "../wire/task-view";

export const FORMAT = 1;

export interface ListEntry {
  fetchedAtMs: number;
  /** Upper end of the window the entry was fetched with (ns). */
  fetchEnd: bigint;
  /** Limit the merged answer was cut to (0: none). */
  fetchLimit: bigint;
  /** True when the entry may lack older tasks because it hit its limit. */
  cut: boolean;
  tasks: readonly TaskView[];
  answered: string[];
}

export interface TaskEntry {
  fetchedAtMs: number;
  setId: string;
  task: TaskView;
  answered: string[];
}

export class EntryFormatError extends Error {}

function checkFormat(r: BinaryReader): void {
  const [field, wt] = r.tag();
  if (field !== 1 || wt !== WireType.Varint || r.uint32() !== FORMAT)
    throw new EntryFormatError("unknown entry format");
}

export function encodeListEntry(e: ListEntry): Buffer {
  const w = new BinaryWriter();
  w.uint32(8).uint32(FORMAT);
  w.uint32(16).int64(BigInt(e.fetchedAtMs));
  w.uint32(24).int64(e.fetchEnd);
  w.uint32(32).int64(e.fetchLimit);
  w.uint32(40).bool(e.cut);
  w.uint32(50).bytes(encodeTaskList(e.tasks));
  for (const a of e.answered) w.uint32(58).string(a);
  return Buffer.from(w.finish());
}

export function decodeListEntry(buf: Buffer): ListEntry {
  const r = new BinaryReader(buf);
  checkFormat(r);
  const e: ListEntry = { fetchedAtMs: 0, fetchEnd: 0n, fetchLimit: 0n, cut: false, tasks: [], answered: [] };
  while (r.pos < buf.length) {
    const [field, wt] = r.tag();
    if (field === 2) e.fetchedAtMs = Number(r.int64());
    else if (field === 3) e.fetchEnd = BigInt(r.int64());
    else if (field === 4) e.fetchLimit = BigInt(r.int64());
    else if (field === 5) e.cut = r.bool();
    else if (field === 6) e.tasks = decodeTaskList(Buffer.from(r.bytes()));
    else if (field === 7) e.answered.push(r.string());
    else r.skip(wt, field);
  }
  return e;
}

export function encodeTaskEntry(e: TaskEntry): Buffer {
  const w = new BinaryWriter();
  w.uint32(8).uint32(FORMAT);
  w.uint32(16).int64(BigInt(e.fetchedAtMs));
  w.uint32(26).string(e.setId);
  w.uint32(34).bytes(e.task.raw);
  for (const a of e.answered) w.uint32(42).string(a);
  return Buffer.from(w.finish());
}

export function decodeTaskEntry(buf: Buffer): TaskEntry {
  const r = new BinaryReader(buf);
  checkFormat(r);
  let fetchedAtMs = 0;
  let setId = "";
  let task: TaskView | undefined;
  const answered: string[] = [];
  while (r.pos < buf.length) {
    const [field, wt] = r.tag();
    if (field === 2) fetchedAtMs = Number(r.int64());
    else if (field === 3) setId = r.string();
    else if (field === 4) task = decodeTaskView(Buffer.from(r.bytes()));
    else if (field === 5) answered.push(r.string());
    else r.skip(wt, field);
  }
  if (!task) throw new EntryFormatError("task entry without a task");
  return { fetchedAtMs, setId, task, answered };
}

export function encodeHolders(addresses: readonly string[]): Buffer {
  const w = new BinaryWriter();
  w.uint32(8).uint32(FORMAT);
  for (const a of addresses) w.uint32(18).string(a);
  return Buffer.from(w.finish());
}

export function decodeHolders(buf: Buffer): string[] {
  const r = new BinaryReader(buf);
  checkFormat(r);
  const out: string[] = [];
  while (r.pos < buf.length) {
    const [field, wt] = r.tag();
    if (field === 2) out.push(r.string());
    else r.skip(wt, field);
  }
  return out;
}
