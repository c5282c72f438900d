/**
 * ECDSA P-256 in the Executor's formats (spec §2, §6): public keys as raw X||Y
 * (64 bytes), signatures as r||s (64 bytes), the signed message the SHA-256 of
 * `hex(pubKey) + "," + taskID`. Node's crypto does the math.
 */
import crypto from "node:crypto";
import { KEY_BYTES } from "../wire/facts";

export { KEY_BYTES };
export const SIGNATURE_BYTES = 64;

function b64url(b: Buffer): string {
  return b.toString("base64url");
}

/** The P-256 field prime. */
const P256_P = BigInt("0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff");

function coordinateInField(b: Buffer): boolean {
  return BigInt(`0x${b.toString("hex")}`) < P256_P;
}

/**
 * Imported keys by their raw bytes: importing costs about what a verification does (the
 * JWK import was ~20 % of a small GetPredictResult's CPU), and requesters are few and
 * repeat. Bounded; the oldest import goes first. Keys that are not points are kept too
 * (null), so a client repeating a bad key costs no import either.
 */
export const IMPORTED_KEYS_MAX = 1024;
const imported = new Map<string, crypto.KeyObject | null>();

/** A public KeyObject from raw X||Y; null when it is not a point on P-256. */
export function publicKeyFromRaw(raw: Buffer): crypto.KeyObject | null {
  if (raw.length !== KEY_BYTES) return null;
  const name = raw.toString("latin1");
  const known = imported.get(name);
  if (known !== undefined) return known;
  const key = importPublicKey(raw);
  if (imported.size >= IMPORTED_KEYS_MAX) imported.delete(imported.keys().next().value as string);
  imported.set(name, key);
  return key;
}

/** Number of imported keys kept (tests). */
export function importedKeys(): number {
  return imported.size;
}

function importPublicKey(raw: Buffer): crypto.KeyObject | null {
  // A coordinate >= p would be reduced mod p by some importers: a second spelling of
  // the same key, which must not pass a byte-for-byte requester comparison.
  if (!coordinateInField(raw.subarray(0, 32)) || !coordinateInField(raw.subarray(32))) return null;
  try {
    return crypto.createPublicKey({
      key: { kty: "EC", crv: "P-256", x: b64url(raw.subarray(0, 32)), y: b64url(raw.subarray(32)) },
      format: "jwk",
    });
  } catch {
    return null;
  }
}

/**
 * The message a requester signs for GetPredictResult: the UTF-8 bytes of
 * `hex(pubKey) + "," + taskID`, as Go's `[]byte(fmt.Sprintf("%x,%s", ...))` makes them
 * on the Executor (spec §6; a task ID need not be ASCII).
 */
export function predictSigningMessage(pubKey: Buffer, taskID: string): Buffer {
  return Buffer.from(`${pubKey.toString("hex")},${taskID}`, "utf8");
}

export function verifyPredictSignature(pubKey: Buffer, taskID: string, signature: Buffer): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  const key = publicKeyFromRaw(pubKey);
  if (key === null) return false;
  return crypto.verify("sha256", predictSigningMessage(pubKey, taskID), { key, dsaEncoding: "ieee-p1363" }, signature);
}

export interface KeyPair {
  /** 32-byte private scalar, as PaddleDTX key files hold it (hex). */
  privateKey: Buffer;
  /** Raw X||Y. */
  publicKey: Buffer;
}

/** Derives the key pair of a private scalar. */
export function keyPairFromPrivate(privateKey: Buffer): KeyPair {
  const ecdh = crypto.createECDH("prime256v1");
  ecdh.setPrivateKey(privateKey);
  return { privateKey, publicKey: ecdh.getPublicKey().subarray(1) };
}

export function signPredictRequest(kp: KeyPair, taskID: string): Buffer {
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
  return crypto.sign("sha256", predictSigningMessage(kp.publicKey, taskID), { key, dsaEncoding: "ieee-p1363" });
}
