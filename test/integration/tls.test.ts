/** TLS and mutual TLS on the gateway's port, and TLS to Executors per address pattern. */
import * as grpc from "@grpc/grpc-js";
import { FLTask, FLTasks } from "../../src/gen/task/task";
import type { RunningGateway } from "../../src/gateway";
import { startSimCluster, type SimCluster } from "../../src/sim/cluster";
import { makeTestPki, type TestPki } from "../helpers/certs";
import { gatewayFor, rawCall, rawClient, startRawExecutor } from "../helpers/resilience";
import { listAllBody } from "../helpers/requests";

let pki: TestPki;
let sim: SimCluster;
beforeAll(async () => {
  pki = makeTestPki();
  sim = await startSimCluster({ executors: 2, seed: 21, trainingTasks: 6 });
});
afterAll(async () => {
  await sim.stop();
  pki.cleanup();
});

const key = (): Buffer => sim.ledger.requesters[0]!.publicKey;
const listBody = (pubKey: Buffer): Buffer => listAllBody(pubKey);
const fresh = { "grpc.use_local_subchannel_pool": 1 };

async function listOver(port: number, creds: grpc.ChannelCredentials): Promise<grpc.ServiceError | undefined> {
  const c = rawClient(port, creds, { ...fresh, "grpc.ssl_target_name_override": "localhost" });
  try {
    const r = await rawCall(c, "ListTask", listBody(key()), { deadlineMs: 3000 });
    if (!r.err) expect(FLTasks.decode(r.body!).fLTasks.length).toBeGreaterThan(0);
    return r.err;
  } finally {
    c.close();
  }
}

describe("serving TLS", () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await gatewayFor(sim, { tls: { cert: pki.serverCert, key: pki.serverKey } });
  });
  afterAll(() => gw.stop());

  test("a client trusting the CA is served", async () => {
    expect(await listOver(gw.grpcPort, grpc.credentials.createSsl(pki.read(pki.ca)))).toBeUndefined();
  });
  test("a plain-text client is refused", async () => {
    expect((await listOver(gw.grpcPort, grpc.credentials.createInsecure()))?.code).toBe(grpc.status.UNAVAILABLE);
  });
  test("a client that does not trust the server's CA refuses it", async () => {
    const rogue = grpc.credentials.createSsl(pki.read(pki.rogueCert));
    expect((await listOver(gw.grpcPort, rogue))?.code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe("serving mutual TLS", () => {
  let gw: RunningGateway;
  beforeAll(async () => {
    gw = await gatewayFor(sim, { tls: { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.ca } });
  });
  afterAll(() => gw.stop());

  test("a client with a certificate from the client CA is served", async () => {
    const creds = grpc.credentials.createSsl(pki.read(pki.ca), pki.read(pki.clientKey), pki.read(pki.clientCert));
    expect(await listOver(gw.grpcPort, creds)).toBeUndefined();
  });
  test("a client without a certificate is refused", async () => {
    expect((await listOver(gw.grpcPort, grpc.credentials.createSsl(pki.read(pki.ca))))?.code).toBe(
      grpc.status.UNAVAILABLE,
    );
  });
  test("a client with a certificate from another CA is refused", async () => {
    const creds = grpc.credentials.createSsl(pki.read(pki.ca), pki.read(pki.rogueKey), pki.read(pki.rogueCert));
    expect((await listOver(gw.grpcPort, creds))?.code).toBe(grpc.status.UNAVAILABLE);
  });
  test("tls.clientCa without a certificate is a configuration error", async () => {
    await expect(gatewayFor(sim, { tls: { clientCa: pki.ca } })).rejects.toThrow(/tls.clientCa/);
  });
});

describe("TLS to Executors", () => {
  const task = FLTask.fromPartial({ iD: "tls-task", status: "Finished", publishTime: 5n });
  let tlsExec: Awaited<ReturnType<typeof startRawExecutor>>;
  let mtlsExec: Awaited<ReturnType<typeof startRawExecutor>>;
  beforeAll(async () => {
    const answer = (): Buffer => Buffer.from(FLTasks.encode({ fLTasks: [{ ...task, requester: key() }] }).finish());
    const certs = [{ cert_chain: pki.read(pki.serverCert), private_key: pki.read(pki.serverKey) }];
    tlsExec = await startRawExecutor(answer, grpc.ServerCredentials.createSsl(null, certs, false));
    mtlsExec = await startRawExecutor(answer, grpc.ServerCredentials.createSsl(pki.read(pki.ca), certs, true));
  });
  afterAll(async () => {
    await tlsExec.stop();
    await mtlsExec.stop();
  });

  async function ask(
    exec: { address: string },
    tls: { match: string; ca: string; cert?: string; key?: string; serverName?: string }[],
  ): Promise<{ ids: string[]; failed?: string }> {
    // A plain-text simulated Executor alongside: TLS applies only where the pattern matches.
    const gw = await gatewayFor(undefined, {
      seeds: [exec.address, sim.executors[0]!.address],
      executors: { tls, callTimeoutMs: 2000 },
    });
    const c = rawClient(gw.grpcPort);
    try {
      const r = await rawCall(c, "ListTask", listBody(key()), { deadlineMs: 3000 });
      expect(r.err).toBeUndefined();
      return {
        ids: FLTasks.decode(r.body!).fLTasks.map((t) => t.iD),
        failed: r.trailers["dai-executors-failed"],
      };
    } finally {
      c.close();
      await gw.stop();
    }
  }

  test("TLS with the CA and a server name reaches the Executor; plain text elsewhere still works", async () => {
    const r = await ask(tlsExec, [{ match: tlsExec.address, ca: pki.ca, serverName: "executor.test" }]);
    expect(r.failed).toBeUndefined();
    expect(r.ids).toContain("tls-task");
    expect(r.ids.length).toBeGreaterThan(1); // the plain-text simulated Executor answered too
  });
  test("without a matching rule the gateway speaks plain text and the TLS Executor fails", async () => {
    const r = await ask(tlsExec, [{ match: "10.0.0.0/8", ca: pki.ca }]);
    expect(r.failed).toBe(tlsExec.address);
    expect(r.ids).not.toContain("tls-task");
  });
  test("a server name the certificate does not carry is refused", async () => {
    const r = await ask(tlsExec, [{ match: tlsExec.address, ca: pki.ca, serverName: "wrong.test" }]);
    expect(r.failed).toBe(tlsExec.address);
  });
  test("mutual TLS: the client certificate is presented when configured, refused when not", async () => {
    const withCert = await ask(mtlsExec, [
      { match: "127.0.0.1:*", ca: pki.ca, cert: pki.clientCert, key: pki.clientKey, serverName: "localhost" },
    ]);
    // The pattern also matches the plain-text simulated Executor, which then fails: TLS is per pattern.
    expect(withCert.ids).toContain("tls-task");
    const without = await ask(mtlsExec, [{ match: mtlsExec.address, ca: pki.ca, serverName: "localhost" }]);
    expect(without.failed).toBe(mtlsExec.address);
  });
});
