/** HTTP side of the gateway (`httpListen`): health, readiness, and room for metrics. */
import http from "node:http";

export type HttpRoute = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

export class HttpServer {
  private readonly routes = new Map<string, HttpRoute>();
  private server?: http.Server;

  route(method: string, path: string, handler: HttpRoute): void {
    this.routes.set(`${method} ${path}`, handler);
  }

  async listen(host: string, port: number): Promise<number> {
    this.server = http.createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      const handler = this.routes.get(`${req.method} ${path}`);
      if (!handler) {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
        return;
      }
      Promise.resolve(handler(req, res)).catch(() => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end("internal error\n");
      });
    });
    this.server.requestTimeout = 30_000;
    this.server.headersTimeout = 10_000;
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    const addr = server.address();
    return typeof addr === "object" && addr ? addr.port : port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
