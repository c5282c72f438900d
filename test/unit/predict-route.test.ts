/** The prediction routing order, and that nothing outside the model's data sets or the Executor set is chosen. */
import { TaskType } from "../../src/gen/common/common";
import { FLTask } from "../../src/gen/task/task";
import { predictRoute } from "../../src/predict/route";
import { AllowList } from "../../src/upstream/allowlist";
import { ExecutorRegistry } from "../../src/upstream/registry";
import { decodeTaskView } from "../../src/wire/task-view";

const ds = (address: string, isTagPart = false) => ({ address, isTagPart, executor: Buffer.alloc(64, address.length) });

function view(dataSets: ReturnType<typeof ds>[], taskType = TaskType.LEARN) {
  return decodeTaskView(
    Buffer.from(
      FLTask.encode(
        FLTask.fromPartial({ iD: "t", dataSets, algoParam: { taskType, modelTaskID: "m" }, status: "Finished" }),
      ).finish(),
    ),
  );
}

const registry = (allow: string[]) => new ExecutorRegistry(new AllowList(allow), 100);

describe("predictRoute", () => {
  const model = view([ds("10.0.0.1:8184"), ds("10.0.0.2:8184", true), ds("10.0.0.3:8184", true), ds("10.0.0.4:8184")]);

  test("label holder, then the prediction's own tag part, then the model's data sets in order", () => {
    const predict = view([ds("10.0.0.1:8184"), ds("10.0.0.4:8184", true)], TaskType.PREDICT);
    const r = predictRoute(predict, model, registry(["10.0.0.0/8"]));
    expect(r.candidates).toEqual([
      { address: "10.0.0.2:8184", role: "owner" },
      { address: "10.0.0.4:8184", role: "predict-tag-part" },
      { address: "10.0.0.1:8184", role: "model-data-set" },
      { address: "10.0.0.3:8184", role: "model-data-set" },
    ]);
  });

  test("a tag part outside the model's data sets is never chosen", () => {
    const predict = view([ds("10.9.9.9:8184", true)], TaskType.PREDICT);
    const r = predictRoute(predict, model, registry(["10.0.0.0/8"]));
    expect(r.candidates.map((c) => c.address)).not.toContain("10.9.9.9:8184");
    expect(r.skipped).toEqual([{ address: "10.9.9.9:8184", why: "outside-model" }]);
  });

  test("addresses the allow-list refuses are left out; seeds stay in", () => {
    const reg = registry([]);
    reg.addSeed("10.0.0.3:8184");
    const r = predictRoute(view([], TaskType.PREDICT), model, reg);
    expect(r.candidates).toEqual([{ address: "10.0.0.3:8184", role: "model-data-set" }]);
    expect(r.skipped.map((s) => s.why)).toEqual(["not-allowed", "not-allowed", "not-allowed"]);
  });

  test("a model without a tag part: no owner, the data sets in order", () => {
    const r = predictRoute(
      view([], TaskType.PREDICT),
      view([ds("10.0.0.5:8184"), ds("10.0.0.6:8184")]),
      registry(["10.0.0.0/8"]),
    );
    expect(r.candidates.map((c) => c.role)).toEqual(["model-data-set", "model-data-set"]);
  });
});
