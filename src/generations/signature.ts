/**
 * The two GetPredictResult signature rules (spec §6, §10). Both are ECDSA P-256 over
 * SHA-256 of a message, r||s; only the message differs:
 *
 * - v2: the UTF-8 bytes of `hex(pubKey) + "," + taskID`.
 * - v3: PaddleDTX main's `util.GetSigMessage(TaskRequest)`: the request's json.Marshal
 *   (omitempty: empty fields are absent; bytes as standard base64), re-read as a map,
 *   keys sorted, `signature` left out, `key=value` joined by `&` — for a TaskRequest
 *   `pubKey=<base64>&taskID=<id>` ("pubKey" sorts before "taskID").
 *
 * An Executor accepts only its own generation's rule, and a signature made for one
 * message does not verify for the other, so the gateway (which cannot re-sign) routes a
 * request only to an Executor whose generation accepts the rule it was signed with.
 */
import crypto from "node:crypto";
import { publicKeyFromRaw, SIGNATURE_BYTES, type KeyPair } from "../crypto/p256";
import type { Generation } from "./list-request";

/** Signature rules are named after the generation that accepts them. */
export type SignatureRule = Generation;

/** A one-line description of each rule, for error messages and docs. */
export const RULE_TEXT: Record<SignatureRule, string> = {
  v2: 'SHA-256 of UTF-8 hex(pubKey) + "," + taskID (v2)',
  v3: "SHA-256 of pubKey=<base64>&taskID=<taskID> (v3)",
};

/** The message signed under a rule. */
export function signingMessage(rule: SignatureRule, pubKey: Buffer, taskID: string): Buffer {
  if (rule === "v2") return Buffer.from(`${pubKey.toString("hex")},${taskID}`, "utf8");
  const parts: string[] = [];
  if (pubKey.length > 0) parts.push(`pubKey=${pubKey.toString("base64")}`);
  if (taskID !== "") parts.push(`taskID=${taskID}`);
  return Buffer.from(parts.join("&"), "utf8");
}

/** The rules under which `signature` is a valid signature by `pubKey` (normally one, or none). */
export function verifyingRules(pubKey: Buffer, taskID: string, signature: Buffer): SignatureRule[] {
  if (signature.length !== SIGNATURE_BYTES) return [];
  const key = publicKeyFromRaw(pubKey);
  if (key === null) return [];
  return (["v2", "v3"] as const).filter((rule) =>
    crypto.verify("sha256", signingMessage(rule, pubKey, taskID), { key, dsaEncoding: "ieee-p1363" }, signature),
  );
}

/** Signs a prediction request under a rule (CLI, simulator, tests). */
export function signWithRule(kp: KeyPair, taskID: string, rule: SignatureRule): Buffer {
  const b64url = (b: Buffer): string => b.toString("base64url");
  const key = crypto.createPrivateKey({
    key: {
      kty: "EC",
      crv: "P-256",
      d: b64url(kp.privateKey),
      x: b64url(kp.publicKey.subarray(0, 32)),
      y: b64url(kp.publicKey.subarray(32)),
    },
    format: "jwk",
  });
  return crypto.sign("sha256", signingMessage(rule, kp.publicKey, taskID), { key, dsaEncoding: "ieee-p1363" });
}
