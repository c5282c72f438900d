/** Reading a PEM file named by a config key; the error names the key and the path. */
import { readFileSync } from "node:fs";

export function readPem(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${key}: cannot read ${path}: ${(err as Error).message}`);
  }
}
