/** Credentials of the gateway's own gRPC port: plain text, TLS, or mutual TLS (`tls.*`). */
import * as grpc from "@grpc/grpc-js";
import { readPem } from "../config/pem";

/** File paths; empty strings mean unset. */
export interface ServerTlsConfig {
  cert: string;
  key: string;
  clientCa: string;
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
