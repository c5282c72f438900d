/**
 * Where to ask for a prediction result. It lives on the Executor that holds the
 * labels: the first `isTagPart` data set of the *model* (training) task named by the
 * prediction task's `algoParam.modelTaskID` (spec §6). The order below is the whole
 * routing policy (README, "Prediction"); nothing outside the model task's data sets
 * and the Executor set is ever asked.
 */
import { parseAddress } from "../upstream/address";
import type { ExecutorRegistry } from "../upstream/registry";

/** What routing needs of the Executor set's owner. */
export type RouteMembers = Pick<ExecutorRegistry, "offer" | "resolve">;
import type { DataSetView, TaskView } from "../wire/task-view";

export type CandidateRole = "owner" | "predict-tag-part" | "model-data-set";

export interface PredictCandidate {
  address: string;
  role: CandidateRole;
}

export interface PredictRoute {
  candidates: PredictCandidate[];
  /** Addresses left out: not in the model's data sets, or not admitted to the Executor set. */
  skipped: { address: string; why: "outside-model" | "not-allowed" }[];
}

function canonical(address: string): string | undefined {
  return parseAddress(address)?.canonical;
}

/**
 * Candidates in order: (1) the model task's first isTagPart data set, the label
 * holder; (2) the prediction task's own first isTagPart data set, if it is one of
 * the model task's Executors; (3) the model task's other data sets in their order.
 * Each address is offered to the registry (allow-list, cap) and dropped if refused.
 */
export function predictRoute(predictTask: TaskView, modelTask: TaskView, registry: RouteMembers): PredictRoute {
  const route: PredictRoute = { candidates: [], skipped: [] };
  const inModel = new Set<string>();
  for (const ds of modelTask.dataSets) {
    const c = canonical(ds.address);
    if (c !== undefined) inModel.add(c);
  }
  const seen = new Set<string>();
  const consider = (ds: DataSetView | undefined, role: CandidateRole): void => {
    if (ds === undefined || ds.address === "") return;
    const c = canonical(ds.address);
    if (c === undefined || seen.has(c)) return;
    seen.add(c);
    if (!inModel.has(c)) {
      route.skipped.push({ address: ds.address, why: "outside-model" });
      return;
    }
    registry.offer(ds.address, ds.executor, "prediction");
    const resolved = registry.resolve(ds.address);
    if (resolved === undefined) {
      route.skipped.push({ address: c, why: "not-allowed" });
      return;
    }
    route.candidates.push({ address: resolved, role });
  };
  consider(
    modelTask.dataSets.find((ds) => ds.isTagPart),
    "owner",
  );
  consider(
    predictTask.dataSets.find((ds) => ds.isTagPart),
    "predict-tag-part",
  );
  for (const ds of modelTask.dataSets) consider(ds, "model-data-set");
  return route;
}
