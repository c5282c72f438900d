/** A throwaway CA and a server certificate for 127.0.0.1, made with the openssl command. */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface TestPki {
  caFile: string;
  certFile: string;
  keyFile: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export function makeTestPki(dir: string): TestPki {
  const f = (n: string): string => path.join(dir, n);
  const ssl = (...args: string[]): void => {
    execFileSync("openssl", args, { stdio: "pipe" });
  };
  ssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f("ca.key"));
  ssl("req", "-x509", "-new", "-key", f("ca.key"), "-subj", "/CN=dai test CA", "-days", "1", "-out", f("ca.pem"));
  ssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f("server.key"));
  ssl("req", "-new", "-key", f("server.key"), "-subj", "/CN=127.0.0.1", "-out", f("server.csr"));
  writeFileSync(f("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  ssl(
    "x509",
    "-req",
    "-in",
    f("server.csr"),
    "-CA",
    f("ca.pem"),
    "-CAkey",
    f("ca.key"),
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    f("san.ext"),
    "-out",
    f("server.pem"),
  );
  return {
    caFile: f("ca.pem"),
    certFile: f("server.pem"),
    keyFile: f("server.key"),
    ca: readFileSync(f("ca.pem")),
    cert: readFileSync(f("server.pem")),
    key: readFileSync(f("server.key")),
  };
}
