/**
 * GetPredictResult routing. The result lives on the Executor that holds the labels:
 * the first `isTagPart` entry of the *model* (training) task's data sets, the task
 * named by the prediction task's `algoParam.modelTaskID` (spec §6).
 */
import { status as Status } from "@grpc/grpc-js";
import type { TaskView } from "../wire/task-view";
import type { ExecutorRegistry } from "../upstream/registry";

export const PREDICT_TASK_TYPE = 1;

export class RouteError extends Error {
  constructor(
    readonly code: Status,
    message: string,
  ) {
    super(message);
  }
}

/** The label holder of a training task: its first data set flagged isTagPart. */
export function labelHolder(modelTask: TaskView): string | undefined {
  return modelTask.dataSets.find((ds) => ds.isTagPart)?.address;
}

/**
 * Executors to ask for a prediction result, in order: the model task's label holder
 * first. Only addresses in the Executor set (allow-listed) are returned.
 */
export function predictTargets(modelTask: TaskView, registry: ExecutorRegistry): string[] {
  const owner = labelHolder(modelTask);
  if (owner === undefined) {
    throw new RouteError(
      Status.FAILED_PRECONDITION,
      `model task ${modelTask.id} names no label holder (no isTagPart data set)`,
    );
  }
  registry.offer(owner, modelTask.dataSets.find((ds) => ds.isTagPart)?.executor);
  const resolved = registry.resolve(owner);
  if (resolved === undefined) {
    throw new RouteError(
      Status.FAILED_PRECONDITION,
      `the result owner ${owner} is not an allowed Executor (executors.discoveryAllow)`,
    );
  }
  return [resolved];
}
