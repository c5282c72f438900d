/**
 * How the person-facing commands reach a gateway: a nice-grpc client for the Task
 * API (plain text, or TLS with optional CA and client certificate) and a small JSON
 * GET for the HTTP status route. Failures become one-line CliErrors.
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { ChannelCredentials, ClientError, createChannel, createClient, Status, type Channel } from "nice-grpc";
import { TaskDefinition } from "../gen/task/task";
import { cleanGrpcDetails, isNoConnection } from "../upstream/grpc-text";

export class CliError extends Error {
  override name = "CliError";
}

export interface ConnectOptions {
  host: string;
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  timeout: number;
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CliError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function tlsMaterial(o: ConnectOptions): { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined {
  if (!o.tls && !o.ca && !o.cert && !o.key) return undefined;
  if ((o.cert === undefined) !== (o.key === undefined)) throw new CliError("--cert and --key go together");
  return {
    ca: o.ca ? readPem(o.ca, "--ca") : undefined,
    cert: o.cert ? readPem(o.cert, "--cert") : undefined,
    key: o.key ? readPem(o.key, "--key") : undefined,
  };
}

export interface TaskConnection {
  client: ReturnType<typeof createClient<typeof TaskDefinition>>;
  channel: Channel;
  close(): void;
}

export function connectTasks(o: ConnectOptions): TaskConnection {
  const tls = tlsMaterial(o);
  // grpc-js passes an IP host as TLS server name, which Node flags with a deprecation
  // warning on stderr; the CLI promises one line per failure.
  if (tls) process.noDeprecation = true;
  const creds = tls ? ChannelCredentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null) : undefined;
  const channel = createChannel(o.host, creds);
  return { client: createClient(TaskDefinition, channel), channel, close: () => channel.close() };
}

/** Turns a failed call into one readable line naming the host (and the time budget on a timeout). */
export function describeCallError(err: unknown, what: string, o: ConnectOptions): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof ClientError) {
    if (err.code === Status.UNAVAILABLE && isNoConnection(err.details))
      return new CliError(`${what}: cannot reach a gateway at ${o.host}: ${cleanGrpcDetails(err.details)}`);
    if (err.code === Status.DEADLINE_EXCEEDED)
      return new CliError(`${what}: no answer from ${o.host} within --timeout ${o.timeout} ms`);
    return new CliError(`${what}: ${Status[err.code]}: ${cleanGrpcDetails(err.details)}`);
  }
  // AbortSignal.timeout() rejects with a TimeoutError; an abort with an AbortError.
  const name = (err as Error)?.name;
  if (name === "TimeoutError" || name === "AbortError")
    return new CliError(`${what}: no answer from ${o.host} within --timeout ${o.timeout} ms`);
  return new CliError(`${what}: ${(err as Error)?.message ?? String(err)}`);
}

const NET_ERRORS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "no such host",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ETIMEDOUT: "connection timed out",
};

/** GET a JSON route of the gateway's HTTP API; unwraps the `{code, message, data}` envelope. */
export async function getJson(url: string, o: ConnectOptions, what: string): Promise<unknown> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`${what}: --http: not a URL: ${url}`);
  }
  // "localhost:9184" parses as a URL of scheme "localhost:"; say so rather than ERR_INVALID_PROTOCOL.
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new CliError(`${what}: --http: not an http:// or https:// URL: ${url}`);
  const secure = parsed.protocol === "https:";
  const tls = secure ? tlsMaterial(o) : undefined;
  const text = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = (secure ? https : http).get(parsed, { timeout: o.timeout, ...(tls ?? {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    const late = (): void => void req.destroy(new Error(`no answer within --timeout ${o.timeout} ms`));
    // The socket's timeout is per silence; a reply trickling in must not outlive --timeout either.
    const timer = setTimeout(late, o.timeout);
    req.on("close", () => clearTimeout(timer));
    req.on("timeout", late);
    req.on("error", reject);
  }).catch((err: Error & { code?: string }) => {
    const known = err.code ? NET_ERRORS[err.code] : undefined;
    throw new CliError(`${what}: cannot read ${url}: ${known ? `${known} (${err.code})` : (err.code ?? err.message)}`);
  });
  let body: { code?: unknown; message?: unknown; data?: unknown };
  try {
    body = JSON.parse(text.body) as typeof body;
  } catch {
    throw new CliError(
      `${what}: ${url}: HTTP ${text.status}, not a dai-gateway JSON reply (is --http the gateway's httpListen?)`,
    );
  }
  if (body.code !== "0")
    throw new CliError(`${what}: ${url}: HTTP ${text.status} ${String(body.code)}: ${String(body.message)}`);
  return body.data;
}
