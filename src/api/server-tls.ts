/** Credentials of the gateway's own gRPC port: plain text, TLS, or mutual TLS (`tls.*`). */
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";

/** File paths; empty strings mean unset. */
export interface ServerTlsConfig {
  cert: string;
  key: string;
  clientCa: string;
}

function readPem(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${key}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** With `clientCa` set, clients must present a certificate that CA signed (mutual TLS). */
export function serverCredentials(tls: ServerTlsConfig): grpc.ServerCredentials {
  if (tls.cert === "" || tls.key === "") return grpc.ServerCredentials.createInsecure();
  const ca = tls.clientCa === "" ? null : readPem(tls.clientCa, "tls.clientCa");
  return grpc.ServerCredentials.createSsl(
    ca,
    [{ cert_chain: readPem(tls.cert, "tls.cert"), private_key: readPem(tls.key, "tls.key") }],
    ca !== null,
  );
}
