import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import {
  FLTask,
  FLTasks,
  GetTaskRequest,
  ListTaskRequest,
  PredictResponse,
  TaskRequest,
} from "../../src/gen/task/task";
import { decodeTaskList, decodeTaskView, encodeTaskList } from "../../src/wire/task-view";
import { cases, FIXTURES, wire } from "../helpers/fixtures";

const codecs: Record<
  string,
  { decode(b: Uint8Array): unknown; encode(m: never): { finish(): Uint8Array }; toJSON(m: never): unknown }
> = {
  "task.ListTaskRequest": ListTaskRequest,
  "task.FLTask": FLTask,
  "task.FLTasks": FLTasks,
  "task.GetTaskRequest": GetTaskRequest,
  "task.PredictResponse": PredictResponse,
  "task.TaskRequest": TaskRequest,
};

describe("wire fixtures from an independent protobuf implementation", () => {
  test.each(Object.keys(cases))("%s: .bin matches cases.json hex", (name) => {
    expect(wire(name).toString("hex")).toBe(cases[name]!.bytes_hex);
  });

  test.each(Object.keys(cases).filter((n) => cases[n]!.canonical_json))("%s decodes to the canonical JSON", (name) => {
    const c = cases[name]!;
    const codec = codecs[c.message]!;
    const json = codec.toJSON(codec.decode(wire(name)) as never);
    expect(json).toEqual(c.canonical_json);
  });

  test.each(["list_request", "get_task_request", "task_request", "predict_response", "fltask_train", "fltask_predict"])(
    "%s re-encodes byte for byte",
    (name) => {
      const codec = codecs[cases[name]!.message]!;
      const reencoded = Buffer.from(codec.encode(codec.decode(wire(name)) as never).finish());
      expect(reencoded.toString("hex")).toBe(wire(name).toString("hex"));
    },
  );

  test("64-bit times stay exact (beyond Number.MAX_SAFE_INTEGER)", () => {
    const t = FLTask.decode(wire("fltask_train"));
    expect(t.publishTime).toBe(1764316800123456789n);
    expect(t.endTime).toBe(1764317100555555555n);
    const view = decodeTaskView(wire("fltask_train"));
    expect(view.publishTime).toBe(1764316800123456789n);
    expect(view.startTime).toBe(1764316830987654321n);
    expect(view.dataSets[0]!.confirmedAt).toBe(1764316801000000001n);
  });

  test("task view decodes what merging and routing need", () => {
    const train = decodeTaskView(wire("fltask_train"));
    expect(train.id).toBe("3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41");
    expect(train.status).toBe("Finished");
    expect(train.dataSets.map((d) => [d.address, d.isTagPart])).toEqual([
      ["10.0.0.11:8184", false],
      ["10.0.0.12:8184", true],
      ["10.0.0.13:8184", true],
    ]);
    const predict = decodeTaskView(wire("fltask_predict"));
    expect(predict.taskType).toBe(1);
    expect(predict.modelTaskID).toBe(train.id);
    expect(predict.dataSets[1]!.rejectedAt).toBe(1764320002000000000n);
  });

  test("FLTasks split and re-assembled without re-encoding is byte-identical", () => {
    const tasks = decodeTaskList(wire("fltasks"));
    expect(tasks.map((t) => t.id)).toEqual([
      "9b8e7d6c-5a4b-4c3d-8e2f-1a0b9c8d7e6f",
      "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41",
    ]);
    expect(encodeTaskList(tasks).equals(wire("fltasks"))).toBe(true);
  });

  test("a newer Executor's unknown fields survive the relay byte for byte", () => {
    const raw = wire("fltask_newer_executor");
    const view = decodeTaskView(raw);
    expect(view.status).toBe("Confirming");
    const relayed = decodeTaskList(encodeTaskList([view]))[0]!;
    expect(relayed.raw.equals(raw)).toBe(true);
    // Re-encoding through generated code would lose nothing only thanks to unknownFields; the relay never does it.
    expect(FLTask.decode(raw)._unknownFields).toBeDefined();
  });

  test("the copy under test/fixtures matches shared/fixtures when present", () => {
    const shared = path.join(FIXTURES, "..", "..", "..", "shared", "fixtures", "wire", "cases.json");
    if (!existsSync(shared)) return;
    expect(readFileSync(shared, "utf8")).toBe(readFileSync(path.join(FIXTURES, "wire", "cases.json"), "utf8"));
  });
});
