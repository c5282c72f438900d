/**
 * gRPC health checking (grpc.health.v1) and server reflection on the Task API port,
 * and HTTP /healthz and /readyz: SERVING while ready, NOT_SERVING from the moment
 * shutdown begins, and "ready" meaning what the README says.
 */
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { service as healthService } from "grpc-health-check";
import { testConfig } from "../helpers/test-config";
import { startGateway } from "../../src/gateway";
import { createLogger } from "../../src/log";
import { startRig, type ObsRig } from "../helpers/obs-gateway";

jest.setTimeout(30_000);

type Check = { status: string };
const HealthClient = grpc.makeClientConstructor(healthService, "grpc.health.v1.Health");

interface HealthStub extends grpc.Client {
  check(req: { service: string }, opts: grpc.CallOptions, cb: (err: Error | null, res: Check) => void): void;
  watch(req: { service: string }): grpc.ClientReadableStream<Check>;
}

function healthClient(port: number): HealthStub {
  return new HealthClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as HealthStub;
}

function check(client: ReturnType<typeof healthClient>, service: string): Promise<Check> {
  return new Promise((resolve, reject) =>
    client.check({ service }, { deadline: Date.now() + 3000 }, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

async function readyz(
  url: string,
): Promise<{ status: number; body: { ready: boolean; executors: { known: number } } }> {
  const r = await fetch(`${url}/readyz`);
  return { status: r.status, body: (await r.json()) as never };
}

describe("health and readiness", () => {
  let rig: ObsRig | undefined;

  afterEach(async () => {
    await rig?.stop().catch(() => undefined);
    rig = undefined;
  });

  it("answers SERVING for '' and task.Task while ready, and flips to NOT_SERVING on shutdown", async () => {
    rig = await startRig({ executors: 2, config: { health: { drainDelayMs: 600 } } });
    const client = healthClient(rig.gw.grpcPort);
    expect(await check(client, "")).toEqual({ status: "SERVING" });
    expect(await check(client, "task.Task")).toEqual({ status: "SERVING" });
    await expect(check(client, "no.Such")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    expect((await fetch(`${rig.httpUrl}/healthz`)).status).toBe(200);
    const ready = await readyz(rig.httpUrl);
    expect(ready.status).toBe(200);
    expect(ready.body.ready).toBe(true);
    expect(ready.body.executors.known).toBe(2);

    // A watcher sees the flip as it happens.
    const watched: string[] = [];
    const watch = client.watch({ service: "task.Task" });
    watch.on("data", (m: Check) => watched.push(m.status));
    let watchEnded = false;
    watch.on("error", () => undefined);
    watch.on("status", () => (watchEnded = true));
    await waitFor(() => watched.length >= 1);
    expect(watched).toEqual(["SERVING"]);

    const stopping = rig.gw.stop();
    // During the drain delay the server still answers, and says NOT_SERVING.
    expect(await check(client, "")).toEqual({ status: "NOT_SERVING" });
    expect(await check(client, "task.Task")).toEqual({ status: "NOT_SERVING" });
    expect((await readyz(rig.httpUrl)).status).toBe(503);
    await waitFor(() => watched.length >= 2);
    expect(watched).toEqual(["SERVING", "NOT_SERVING"]);

    const started = Date.now();
    await stopping;
    // The open Watch stream is ended by the server, so stopping does not wait on it.
    expect(Date.now() - started).toBeLessThan(2000);
    await waitFor(() => watchEnded);
    await expect(check(client, "")).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    client.close();
    await rig.sim.stop();
    rig = undefined;
  });

  it("is not ready with an empty Executor set (alive, but nothing to serve from)", async () => {
    const gw = await startGateway(
      testConfig({ listen: "127.0.0.1:0", httpListen: "127.0.0.1:0" }),
      createLogger("silent"),
    );
    try {
      const url = `http://127.0.0.1:${gw.httpPort}`;
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const r = await readyz(url);
      expect(r.status).toBe(503);
      expect(r.body).toMatchObject({ ready: false, serving: true, executors: { known: 0 } });
      const client = healthClient(gw.grpcPort);
      expect(await check(client, "")).toEqual({ status: "NOT_SERVING" });
      client.close();
    } finally {
      await gw.stop();
    }
  });

  it("stays ready when no Executor answers (the gateway still answers, with UNAVAILABLE)", async () => {
    rig = await startRig({ executors: 2 });
    for (const e of rig.sim.executors) await e.stop();
    await expect(rig.client.listTask({ pubKey: Buffer.alloc(0), timeEnd: 1n })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    const r = await readyz(rig.httpUrl);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ready: true, executors: { known: 2, healthy: 0 } });
  });

  it("serves reflection for task.Task so tools need no proto files", async () => {
    rig = await startRig({ executors: 2 });
    const reflectionProto = path.dirname(require.resolve("@grpc/reflection/package.json")) + "/build/proto";
    const pkg = grpc.loadPackageDefinition(
      loadSync("grpc/reflection/v1/reflection.proto", { includeDirs: [reflectionProto], keepCase: true }),
    ) as never as {
      grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
    };
    const client = new pkg.grpc.reflection.v1.ServerReflection(
      `127.0.0.1:${rig.gw.grpcPort}`,
      grpc.credentials.createInsecure(),
    );
    const ask = (req: object): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) => {
        const call = (
          client as unknown as { ServerReflectionInfo(): unknown }
        ).ServerReflectionInfo() as grpc.ClientDuplexStream<object, Record<string, unknown>>;
        call.on("data", (m) => {
          resolve(m);
          call.end();
        });
        call.on("error", reject);
        call.write(req);
      });
    const listed = (await ask({ list_services: "" })) as { list_services_response: { service: { name: string }[] } };
    const names = listed.list_services_response.service.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(["task.Task", "grpc.health.v1.Health"]));
    const file = (await ask({ file_containing_symbol: "task.Task" })) as {
      file_descriptor_response: { file_descriptor_proto: Buffer[] };
    };
    const descriptors = Buffer.concat(file.file_descriptor_response.file_descriptor_proto).toString("latin1");
    for (const m of ["ListTask", "GetTaskById", "GetPredictResult", "FLTask", "ListTaskRequest"]) {
      expect(descriptors).toContain(m);
    }
    client.close();
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
