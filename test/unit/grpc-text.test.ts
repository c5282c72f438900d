/** grpc-js failure texts as people read them (the CLI's errors, the Executor status's LAST ERROR). */
import { cleanGrpcDetails, shortText } from "../../src/upstream/grpc-text";

test.each([
  [
    "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:18999. Resolution note: ",
    "connect ECONNREFUSED 127.0.0.1:18999",
  ],
  [
    "No connection established. Last error: Protocol error (2026-12-01T21:43:07.123Z). Resolution note: ",
    "Protocol error (not a gRPC server: is this the HTTP port?)",
  ],
  [
    "No connection established. Last error: Error: 801C448AF37F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n. Resolution note: ",
    "TLS handshake failed (wrong version number)",
  ],
  ["error:0A000086:SSL routines::certificate verify failed", "TLS handshake failed (certificate verify failed)"],
  [
    "Name resolution failed for target dns:nonexistent.invalid:80",
    "Name resolution failed for target dns:nonexistent.invalid:80",
  ],
  [
    "Connection dropped. Resolution note: DNS lookup took 3.2 s",
    "Connection dropped (resolution: DNS lookup took 3.2 s)",
  ],
  ["task t-1 not found", "task t-1 not found"],
])("%j -> %j", (raw, want) => {
  expect(cleanGrpcDetails(raw)).toBe(want);
});

test("shortText cuts at a word boundary with an ellipsis", () => {
  expect(shortText("short", 10)).toBe("short");
  expect(shortText("connect ECONNREFUSED 127.0.0.1:1 and more words", 30)).toBe("connect ECONNREFUSED…");
});
