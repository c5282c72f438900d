/**
 * The v3 HTTP/JSON listener (`v3.httpListen`) is an HTTP side like `httpListen`: it must
 * not be able to take the process's sockets or time from the Task API, so it has the same
 * connection cap and timeouts (`http.maxConnections`, `http.*TimeoutMs`).
 */
import net from "node:net";
import { once } from "node:events";
import type { RunningGateway } from "../../src/gateway";
import { gatewayFor } from "../helpers/resilience";

let gw: RunningGateway;

beforeAll(async () => {
  gw = await gatewayFor(undefined, {
    seeds: ["127.0.0.1:1"],
    v3: { httpListen: "127.0.0.1:0" },
    http: { maxConnections: 2 },
  });
});
afterAll(async () => {
  await gw.stop();
});

/** Opens a connection and says whether the server closed it within `ms`. */
async function closedWithin(sockets: net.Socket[], ms: number): Promise<boolean> {
  const s = net.connect(gw.v3HttpPort!, "127.0.0.1");
  sockets.push(s);
  s.on("error", () => undefined);
  await once(s, "connect");
  return await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    s.once("close", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

test("v3.httpListen refuses connections beyond http.maxConnections", async () => {
  const sockets: net.Socket[] = [];
  try {
    expect(await closedWithin(sockets, 200)).toBe(false);
    expect(await closedWithin(sockets, 200)).toBe(false);
    expect(await closedWithin(sockets, 1000)).toBe(true);
  } finally {
    for (const s of sockets) s.destroy();
  }
});
