/**
 * proto/common/common.proto carries the whole v2.0.1 `common` package (spec §1), so
 * JSON (HTTP routes, CLI) and reflection show every field an Executor sends.
 */
import path from "node:path";
import { loadSync } from "@grpc/proto-loader";
import { FLTask } from "../../src/gen/task/task";
import { Algorithm, EvaluationRule, TaskType } from "../../src/gen/common/common";
import { taskJson } from "../../src/http/task-json";
import { protoDir } from "../../src/observability/reflection";
import { decodeTaskView } from "../../src/wire/task-view";
import { wire } from "../helpers/fixtures";

/** Spec §1's table: message -> field -> [number, type]. */
const SPEC: Record<string, Record<string, [number, string]>> = {
  TaskParams: {
    algo: [1, "enum"],
    taskType: [2, "enum"],
    trainParams: [3, "TrainParams"],
    modelTaskID: [4, "string"],
    modelParams: [5, "TrainModels"],
    evalParams: [6, "EvaluationParams"],
    livalParams: [7, "LiveEvaluationParams"],
  },
  TrainParams: {
    label: [1, "string"],
    labelName: [2, "string"],
    regMode: [3, "enum"],
    regParam: [4, "double"],
    alpha: [5, "double"],
    amplitude: [6, "double"],
    accuracy: [7, "int64"],
    isTagPart: [8, "bool"],
    idName: [9, "string"],
    BatchSize: [10, "int64"],
  },
  TrainModels: {
    thetas: [1, "map"],
    xbars: [2, "map"],
    sigmas: [3, "map"],
    label: [4, "string"],
    isTagPart: [5, "bool"],
    idName: [6, "string"],
    path: [7, "string"],
  },
  EvaluationParams: {
    enable: [1, "bool"],
    evalRule: [2, "enum"],
    randomSplit: [3, "RandomSplit"],
    cv: [4, "CrossVal"],
  },
  LiveEvaluationParams: { enable: [1, "bool"], randomSplit: [2, "RandomSplit"] },
  RandomSplit: { percentLO: [1, "int32"] },
  CrossVal: { folds: [1, "int32"], shuffle: [2, "bool"], repeated: [3, "bool"], repeatTimes: [4, "int32"] },
};

interface FieldDescriptor {
  name: string;
  number: number;
  type: string;
  typeName: string;
  label: string;
}

describe("common.proto is v2.0.1's", () => {
  const pkg = loadSync("task/task.proto", { includeDirs: [protoDir()], keepCase: true });

  test.each(Object.keys(SPEC))("common.%s has every field of spec §1 (what reflection serves)", (name) => {
    const type = pkg[`common.${name}`] as unknown as { type: { field: FieldDescriptor[] } };
    expect(type).toBeDefined();
    const fields = new Map(type.type.field.map((f) => [f.name, f]));
    for (const [field, [number, kind]] of Object.entries(SPEC[name]!)) {
      const f = fields.get(field);
      expect([field, f?.number]).toEqual([field, number]);
      if (kind === "map") expect(f!.label).toBe("LABEL_REPEATED");
      else if (kind === "enum") expect(f!.type).toBe("TYPE_ENUM");
      else if (/^[A-Z]/.test(kind)) expect(f!.typeName).toMatch(new RegExp(`${kind}$`));
      else expect(f!.type).toBe(`TYPE_${kind.toUpperCase()}`);
    }
  });

  test("enums carry every value, DNN_PADDLEFL_VL and the evaluation rules included", () => {
    expect(Algorithm.DNN_PADDLEFL_VL).toBe(2);
    expect(TaskType.PREDICT).toBe(1);
    expect([EvaluationRule.ErRandomSplit, EvaluationRule.ErCrossVal, EvaluationRule.ErLOO]).toEqual([0, 1, 2]);
    for (const name of ["EvaluationMetricScores", "TrainTaskResult", "PredictTaskResult", "StartTaskRequest"]) {
      expect(pkg[`common.${name}`]).toBeDefined();
    }
  });

  test("the JSON of a task shows evalParams and livalParams (fields 6, 7 of the fixture's algoParam)", () => {
    const json = taskJson(decodeTaskView(wire("fltask_newer_executor"))) as {
      algoParam: Record<string, unknown>;
    };
    expect(json.algoParam.evalParams).toEqual({ enable: true, evalRule: "ErCrossVal", cv: { folds: 5 } });
    expect(json.algoParam.livalParams).toEqual({ enable: true });
  });

  test("a PaddleFL DNN task's algorithm and model path show in JSON, not UNRECOGNIZED", () => {
    const raw = Buffer.from(
      FLTask.encode(
        FLTask.fromPartial({
          iD: "dnn-1",
          requester: Buffer.alloc(64, 1),
          algoParam: {
            algo: Algorithm.DNN_PADDLEFL_VL,
            taskType: TaskType.PREDICT,
            modelParams: { path: "/models/dnn-1.enc" },
            livalParams: { enable: true, randomSplit: { percentLO: 30 } },
          },
        }),
      ).finish(),
    );
    const json = taskJson(decodeTaskView(raw)) as { algoParam: Record<string, unknown> };
    expect(json.algoParam.algo).toBe("DNN_PADDLEFL_VL");
    expect(json.algoParam.modelParams).toMatchObject({ path: "/models/dnn-1.enc" });
    expect(json.algoParam.livalParams).toEqual({ enable: true, randomSplit: { percentLO: 30 } });
    expect(JSON.stringify(json)).not.toContain("UNRECOGNIZED");
  });
});

test("the proto directory is the repository's", () => {
  expect(path.basename(protoDir())).toBe("proto");
});
