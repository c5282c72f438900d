import { readFileSync } from "node:fs";
import path from "node:path";

export const FIXTURES = path.join(__dirname, "..", "fixtures");

export interface WireCase {
  message: string;
  bytes_hex: string;
  note: string;
  canonical_json?: Record<string, unknown>;
}

export const cases: Record<string, WireCase> = JSON.parse(
  readFileSync(path.join(FIXTURES, "wire", "cases.json"), "utf8"),
);

export function wire(name: string): Buffer {
  return readFileSync(path.join(FIXTURES, "wire", `${name}.bin`));
}

export const signature: {
  pubKey_hex: string;
  taskID: string;
  message: string;
  valid_signature_hex: string;
  tampered_signature_hex: string;
  other_key_hex: string;
} = JSON.parse(readFileSync(path.join(FIXTURES, "signature.json"), "utf8"));
