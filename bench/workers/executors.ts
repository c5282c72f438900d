/**
 * Simulated Executors for the bench, in a process of their own: a generated ledger,
 * optional per-call latency, and a signed GetPredictResult request whose result
 * payload can be resized.
 */
import { TaskType } from "../../src/gen/common/common";
import { signPredictRequest } from "../../src/crypto/p256";
import { TaskRequest } from "../../src/gen/task/task";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import { serveIpc } from "./ipc";

let cluster: SimCluster | undefined;
let predict: { taskID: string; holder: number } | undefined;

serveIpc(
  {
    async start(msg) {
      cluster = await startSimCluster({
        executors: Number(msg.executors),
        seed: Number(msg.seed ?? 1),
        trainingTasks: Number(msg.trainingTasks ?? 24),
        overlap: Number(msg.overlap ?? 0.2),
        latencyMs: Number(msg.latencyMs ?? 0),
      });
      const c = cluster;
      // A finished prediction task with a result, signed by its requester.
      let request: string | undefined;
      for (const [taskID, holder] of c.ledger.resultHolder) {
        const task = c.ledger.tasks.find((t) => t.iD === taskID)!;
        if (task.algoParam?.taskType !== TaskType.PREDICT) continue;
        const requester = c.ledger.requesters.find((r) => r.publicKey.equals(Buffer.from(task.requester)))!;
        const req = TaskRequest.encode({
          pubKey: requester.publicKey,
          taskID,
          signature: signPredictRequest(requester, taskID),
        }).finish();
        request = Buffer.from(req).toString("base64");
        predict = { taskID, holder };
        break;
      }
      return {
        executors: c.executors.map((e, i) => ({ address: e.address, pubKey: c.keys[i]!.publicKey.toString("hex") })),
        tasks: c.ledger.tasks.length,
        predictRequest: request,
        predictOwner: predict ? c.executors[predict.holder]!.address : undefined,
      };
    },
    async setResult(msg) {
      if (!cluster || !predict) throw new Error("no prediction task in this ledger");
      const payload = Buffer.alloc(Number(msg.bytes), 0x61);
      cluster.executors[predict.holder]!.setResult(predict.taskID, payload);
      return {};
    },
  },
  async () => {
    await cluster?.stop();
  },
);
