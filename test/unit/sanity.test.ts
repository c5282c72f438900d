/** Sanity checks on Executor-sent tasks: real fixtures pass, each kind of breakage is caught. */
import { FLTask } from "../../src/gen/task/task";
import { MAX_DATA_SETS, MAX_TIME_NS, screenTasks, taskProblem, type DropCounts } from "../../src/merge/sanity";
import { decodeTaskList, decodeTaskView, type TaskView } from "../../src/wire/task-view";
import { generateLedger, deterministicKeyPair } from "../../src/sim/ledger";
import { wire } from "../helpers/fixtures";

const view = (t: FLTask): TaskView => decodeTaskView(Buffer.from(FLTask.encode(t).finish()));
const base = (): FLTask => FLTask.decode(wire("fltask_train"));

describe("taskProblem", () => {
  test("tasks from the independent fixtures are plausible", () => {
    for (const name of ["fltask_train", "fltask_predict", "fltask_newer_executor"]) {
      expect(taskProblem(decodeTaskView(wire(name)))).toBeUndefined();
    }
    for (const t of decodeTaskList(wire("fltasks"))) expect(taskProblem(t)).toBeUndefined();
  });

  test("every task of a generated ledger is plausible", () => {
    const ledger = generateLedger(
      [0, 1, 2].map((i) => ({ address: `127.0.0.1:${7000 + i}`, keys: deterministicKeyPair(`k${i}`) })),
      { seed: 3, trainingTasks: 40 },
    );
    for (const t of ledger.tasks) expect(taskProblem(view(t))).toBeUndefined();
  });

  const cases: [string, (t: FLTask) => void, string][] = [
    ["empty id", (t) => (t.iD = ""), "empty id"],
    ["long id", (t) => (t.iD = "x".repeat(129)), "id too long"],
    ["long status", (t) => (t.status = "S".repeat(65)), "status too long"],
    ["short requester", (t) => (t.requester = Buffer.alloc(63, 1)), "bad requester key"],
    ["long requester", (t) => (t.requester = Buffer.alloc(65, 1)), "bad requester key"],
    ["empty executor key", (t) => (t.dataSets[0]!.executor = Buffer.alloc(0)), "bad executor key"],
    ["33-byte executor key", (t) => (t.dataSets[1]!.executor = Buffer.alloc(33, 2)), "bad executor key"],
    [
      "thousands of data sets",
      (t) => {
        const ds = t.dataSets[0]!;
        t.dataSets = Array.from({ length: 2000 }, (_, i) => ({ ...ds, address: `10.0.${i >> 8}.${i & 255}:8184` }));
      },
      "too many data sets",
    ],
    ["huge address", (t) => (t.dataSets[0]!.address = `${"a".repeat(400)}:1`), "address too long"],
    ["negative publish time", (t) => (t.publishTime = -1n), "time out of range"],
    ["publish time after 2200", (t) => (t.publishTime = MAX_TIME_NS + 1n), "time out of range"],
    ["max int64 end time", (t) => (t.endTime = 2n ** 63n - 1n), "time out of range"],
    ["absurd confirmedAt", (t) => (t.dataSets[0]!.confirmedAt = -(2n ** 62n)), "time out of range"],
  ];
  test.each(cases)("%s", (_name, mutate, problem) => {
    const t = base();
    mutate(t);
    expect(taskProblem(view(t))).toBe(problem);
  });

  test(`${MAX_DATA_SETS} data sets and the latest allowed time are still fine`, () => {
    const t = base();
    const ds = t.dataSets[0]!;
    t.dataSets = Array.from({ length: MAX_DATA_SETS }, () => ({ ...ds }));
    t.publishTime = MAX_TIME_NS;
    expect(taskProblem(view(t))).toBeUndefined();
  });
});

test("screenTasks keeps plausible matching tasks and counts the rest by reason", () => {
  const good = view(base());
  const offFilter = view({ ...base(), iD: "other-task" });
  const bad1 = view({ ...base(), iD: "" });
  const bad2 = view({ ...base(), iD: "b2", requester: Buffer.alloc(5) });
  const counts: DropCounts = {};
  const kept = screenTasks([good, offFilter, bad1, bad2, good], (t) => t.id !== "other-task", counts);
  expect(kept).toEqual([good, good]);
  expect(counts).toEqual({ "off filter": 1, "empty id": 1, "bad requester key": 1 });
});
