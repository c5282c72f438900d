/**
 * The two GetPredictResult signature rules (spec §6 v2, §10 v3), checked with the shared
 * signature fixture and with messages written out by hand here.
 */
import crypto from "node:crypto";
import { deterministicKeyPair } from "../../src/sim/ledger";
import { signingMessage, signWithRule, verifyingRules } from "../../src/generations/signature";
import { signature } from "../helpers/fixtures";

describe("signature rules", () => {
  const pub = Buffer.from(signature.pubKey_hex, "hex");

  test("the shared v2 fixture verifies under v2 only; its tampered twin under neither", () => {
    expect(verifyingRules(pub, signature.taskID, Buffer.from(signature.valid_signature_hex, "hex"))).toEqual(["v2"]);
    expect(verifyingRules(pub, signature.taskID, Buffer.from(signature.tampered_signature_hex, "hex"))).toEqual([]);
    expect(signingMessage("v2", pub, signature.taskID).toString("utf8")).toBe(signature.message);
  });

  test("v3's message: pubKey=<standard base64>&taskID=<id>, keys sorted, empty fields left out", () => {
    expect(signingMessage("v3", pub, "t-1").toString("utf8")).toBe(`pubKey=${pub.toString("base64")}&taskID=t-1`);
    expect(signingMessage("v3", Buffer.alloc(0), "t-1").toString("utf8")).toBe("taskID=t-1");
    expect(signingMessage("v3", pub, "").toString("utf8")).toBe(`pubKey=${pub.toString("base64")}`);
    // The ID as it is, UTF-8 (json.Marshal then decode gives the same string back).
    expect(signingMessage("v3", Buffer.from([0xfb, 0xff]), "é&=<").toString("utf8")).toBe("pubKey=+/8=&taskID=é&=<");
  });

  test("a v3 signature verifies under v3 only; a v2 one under v2 only (non-ASCII IDs included)", () => {
    const kp = deterministicKeyPair("signature-rules");
    for (const id of ["9b8e7d6c-5a4b-4c3d-8e2f-1a0b9c8d7e6f", "预测-任务-1", "ü"]) {
      for (const rule of ["v2", "v3"] as const) {
        const sig = signWithRule(kp, id, rule);
        expect([id, rule, verifyingRules(kp.publicKey, id, sig)]).toEqual([id, rule, [rule]]);
      }
      // Checked against the hand-written message with Node's verifier directly.
      const sig = signWithRule(kp, id, "v3");
      const key = crypto.createPublicKey({
        key: {
          kty: "EC",
          crv: "P-256",
          x: kp.publicKey.subarray(0, 32).toString("base64url"),
          y: kp.publicKey.subarray(32).toString("base64url"),
        },
        format: "jwk",
      });
      const msg = Buffer.from(`pubKey=${kp.publicKey.toString("base64")}&taskID=${id}`, "utf8");
      expect(crypto.verify("sha256", msg, { key, dsaEncoding: "ieee-p1363" }, sig)).toBe(true);
    }
  });

  test("wrong lengths and bad keys verify under no rule", () => {
    const kp = deterministicKeyPair("signature-rules");
    const sig = signWithRule(kp, "x", "v3");
    expect(verifyingRules(kp.publicKey, "x", sig.subarray(0, 63))).toEqual([]);
    expect(verifyingRules(Buffer.alloc(64, 0), "x", sig)).toEqual([]);
    expect(verifyingRules(kp.publicKey.subarray(0, 63), "x", sig)).toEqual([]);
  });
});
