/** The gateway's prediction checks: fixture signature vectors, key validity, check order. */
import crypto from "node:crypto";
import { status as Status } from "@grpc/grpc-js";
import {
  authorizePredictTask,
  checkPredictRequest,
  PredictRefusal,
  type RefusalReason,
} from "../../src/auth/predict-auth";
import {
  importedKeys,
  IMPORTED_KEYS_MAX,
  keyPairFromPrivate,
  predictSigningMessage,
  publicKeyFromRaw,
  signPredictRequest,
  verifyPredictSignature,
} from "../../src/crypto/p256";
import { TaskType } from "../../src/gen/common/common";
import { FLTask, TaskRequest } from "../../src/gen/task/task";
import { decodeTaskView } from "../../src/wire/task-view";
import { signature as sig, wire } from "../helpers/fixtures";

const hex = (h: string): Buffer => Buffer.from(h, "hex");

function refusal(fn: () => unknown): { code: Status; reason: RefusalReason; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof PredictRefusal) return { code: err.code, reason: err.reason, message: err.message };
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("fixture signature vectors (test/fixtures/signature.json)", () => {
  test("the signed message is hex(pubKey) + ',' + taskID", () => {
    expect(predictSigningMessage(hex(sig.pubKey_hex), sig.taskID).toString("ascii")).toBe(sig.message);
  });

  test("valid signature verifies; tampered one and other key do not", () => {
    expect(verifyPredictSignature(hex(sig.pubKey_hex), sig.taskID, hex(sig.valid_signature_hex))).toBe(true);
    expect(verifyPredictSignature(hex(sig.pubKey_hex), sig.taskID, hex(sig.tampered_signature_hex))).toBe(false);
    expect(verifyPredictSignature(hex(sig.other_key_hex), sig.taskID, hex(sig.valid_signature_hex))).toBe(false);
    expect(verifyPredictSignature(hex(sig.pubKey_hex), `${sig.taskID}x`, hex(sig.valid_signature_hex))).toBe(false);
  });

  test("the same verdict from an independent verifier (Node's crypto over the DER form)", () => {
    const key = publicKeyFromRaw(hex(sig.pubKey_hex))!;
    const der = (rs: Buffer): Buffer => {
      const int = (b: Buffer): Buffer => {
        let i = 0;
        while (i < b.length - 1 && b[i] === 0) i++;
        const v = b.subarray(i);
        const body = v[0]! & 0x80 ? Buffer.concat([Buffer.of(0), v]) : v;
        return Buffer.concat([Buffer.of(0x02, body.length), body]);
      };
      const seq = Buffer.concat([int(rs.subarray(0, 32)), int(rs.subarray(32))]);
      return Buffer.concat([Buffer.of(0x30, seq.length), seq]);
    };
    const digestInput = Buffer.from(sig.message, "ascii");
    expect(crypto.verify("sha256", digestInput, key, der(hex(sig.valid_signature_hex)))).toBe(true);
    expect(crypto.verify("sha256", digestInput, key, der(hex(sig.tampered_signature_hex)))).toBe(false);
  });

  test("task_request.bin carries the fixture key, task and valid signature, and passes the checks", () => {
    const req = TaskRequest.decode(wire("task_request"));
    expect(Buffer.from(req.pubKey).toString("hex")).toBe(sig.pubKey_hex);
    expect(req.taskID).toBe(sig.taskID);
    expect(Buffer.from(req.signature).toString("hex")).toBe(sig.valid_signature_hex);
    const checked = checkPredictRequest(req);
    expect(checked.taskID).toBe(sig.taskID);
    expect(checked.pubKey.toString("hex")).toBe(sig.pubKey_hex);
  });

  test("our signer produces signatures the verifier accepts (and only for that task)", () => {
    const kp = keyPairFromPrivate(crypto.createHash("sha256").update("unit").digest());
    const s = signPredictRequest(kp, "t-1");
    expect(s.length).toBe(64);
    expect(verifyPredictSignature(kp.publicKey, "t-1", s)).toBe(true);
    expect(verifyPredictSignature(kp.publicKey, "t-2", s)).toBe(false);
  });
});

describe("non-ASCII task IDs: the signed message is UTF-8, as Go hashes it (spec §6)", () => {
  const kp = keyPairFromPrivate(crypto.createHash("sha256").update("utf8-signer").digest());
  const ids = ["задача-1", "tâche-é", "任务-💥", `${sig.taskID}-ü`];
  /** An independent signer: Node's crypto over the bytes Go's fmt.Sprintf("%x,%s") gives. */
  const signOver = (taskID: string, encoding: BufferEncoding): Buffer => {
    const key = crypto.createPrivateKey({
      key: {
        kty: "EC",
        crv: "P-256",
        d: kp.privateKey.toString("base64url"),
        x: kp.publicKey.subarray(0, 32).toString("base64url"),
        y: kp.publicKey.subarray(32).toString("base64url"),
      },
      format: "jwk",
    });
    const message = Buffer.from(`${kp.publicKey.toString("hex")},${taskID}`, encoding);
    return crypto.sign("sha256", message, { key, dsaEncoding: "ieee-p1363" });
  };

  test.each(ids)("%s: a signature over the UTF-8 bytes passes; one over Latin-1 does not", (taskID) => {
    expect(
      predictSigningMessage(kp.publicKey, taskID).equals(
        Buffer.from(`${kp.publicKey.toString("hex")},${taskID}`, "utf8"),
      ),
    ).toBe(true);
    const good = signOver(taskID, "utf8");
    expect(checkPredictRequest({ pubKey: kp.publicKey, taskID, signature: good }).taskID).toBe(taskID);
    const latin1 = signOver(taskID, "latin1");
    expect(refusal(() => checkPredictRequest({ pubKey: kp.publicKey, taskID, signature: latin1 })).reason).toBe(
      "bad_signature",
    );
    // Our own signer (tests, CLI) signs what the Executor verifies.
    expect(verifyPredictSignature(kp.publicKey, taskID, signPredictRequest(kp, taskID))).toBe(true);
  });

  test("the fixture vector, ASCII, is unchanged by the encoding", () => {
    expect(predictSigningMessage(hex(sig.pubKey_hex), sig.taskID).toString("utf8")).toBe(sig.message);
  });
});

describe("public keys", () => {
  test("a coordinate >= p is refused even when it is congruent to a point's coordinate", () => {
    const P = BigInt("0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
    const b = (v: bigint): Buffer => Buffer.from(v.toString(16).padStart(64, "0"), "hex");
    // (0, y) is on P-256 for this y (y^2 = b mod p).
    const y = BigInt("0x66485c780e2f83d72433bd5d84a06bb6541c2af31dae871728bf856a174f93f4");
    expect(publicKeyFromRaw(Buffer.concat([b(0n), b(y)]))).not.toBeNull();
    expect(publicKeyFromRaw(Buffer.concat([b(P), b(y)]))).toBeNull();
  });

  test("off-curve, wrong length and all-zero keys are refused", () => {
    const k = hex(sig.pubKey_hex);
    k[40] = k[40]! ^ 0x10;
    expect(publicKeyFromRaw(k)).toBeNull();
    expect(publicKeyFromRaw(hex(sig.pubKey_hex).subarray(0, 63))).toBeNull();
    expect(publicKeyFromRaw(Buffer.alloc(64))).toBeNull();
  });

  test("an imported key is kept by its bytes: imported once, the same verdicts, bounded", () => {
    const k = hex(sig.pubKey_hex);
    const first = publicKeyFromRaw(k);
    expect(first).not.toBeNull();
    expect(publicKeyFromRaw(Buffer.from(k))).toBe(first);
    // The caller's buffer changing afterwards changes nothing kept under the old bytes.
    const mutated = Buffer.from(k);
    mutated[40] = mutated[40]! ^ 0x10;
    expect(publicKeyFromRaw(mutated)).toBeNull();
    expect(publicKeyFromRaw(k)).toBe(first);
    expect(verifyPredictSignature(k, sig.taskID, hex(sig.valid_signature_hex))).toBe(true);
    for (let i = 0; i < IMPORTED_KEYS_MAX + 10; i++) {
      const junk = Buffer.alloc(64, 0);
      junk.writeUInt32BE(i + 1, 60);
      publicKeyFromRaw(junk);
    }
    expect(importedKeys()).toBe(IMPORTED_KEYS_MAX);
    expect(verifyPredictSignature(k, sig.taskID, hex(sig.valid_signature_hex))).toBe(true);
  });
});

describe("check order", () => {
  const good = {
    pubKey: hex(sig.pubKey_hex),
    taskID: sig.taskID,
    signature: hex(sig.valid_signature_hex),
  };

  test.each([
    // An Executor's first check is that the task exists: no such ID is NOT_FOUND there too.
    ["empty taskID beats a bad key", { taskID: "", pubKey: Buffer.alloc(3) }, Status.NOT_FOUND, "bad_task_id"],
    ["overlong taskID", { taskID: "x".repeat(129) }, Status.NOT_FOUND, "bad_task_id"],
    [
      "bad key beats a bad signature",
      { pubKey: Buffer.alloc(64), signature: Buffer.alloc(3) },
      Status.INVALID_ARGUMENT,
      "bad_pub_key",
    ],
    ["short signature", { signature: Buffer.alloc(63) }, Status.UNAUTHENTICATED, "bad_signature"],
    ["signature over another task", { taskID: "another" }, Status.UNAUTHENTICATED, "bad_signature"],
  ] as const)("%s", (_name, patch, code, reason) => {
    const r = refusal(() => checkPredictRequest({ ...good, ...patch }));
    expect(r.code).toBe(code);
    expect(r.reason).toBe(reason);
  });

  const task = (over: Partial<FLTask>, taskType = TaskType.PREDICT) =>
    decodeTaskView(
      Buffer.from(
        FLTask.encode(
          FLTask.fromPartial({
            iD: "t",
            requester: hex(sig.pubKey_hex),
            status: "Finished",
            algoParam: { taskType, modelTaskID: "m" },
            ...over,
          }),
        ).finish(),
      ),
    );

  test("task checks: type, then requester, then status (with errMessage)", () => {
    const me = hex(sig.pubKey_hex);
    const other = hex(sig.other_key_hex);
    expect(() => authorizePredictTask(task({}), me)).not.toThrow();
    expect(refusal(() => authorizePredictTask(task({ status: "Failed" }, TaskType.LEARN), other)).reason).toBe(
      "not_predict_task",
    );
    expect(refusal(() => authorizePredictTask(task({ status: "Failed" }), other))).toMatchObject({
      code: Status.PERMISSION_DENIED,
      reason: "not_requester",
    });
    const r = refusal(() => authorizePredictTask(task({ status: "Failed", errMessage: "boom: NaN" }), me));
    expect(r).toMatchObject({ code: Status.FAILED_PRECONDITION, reason: "not_finished" });
    expect(r.message).toContain("Failed");
    expect(r.message).toContain("boom: NaN");
  });
});
