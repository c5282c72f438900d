/** The one table of Executor error codes (src/upstream/error-codes.ts) and its copy in the README. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { status as Status } from "@grpc/grpc-js";
import { ERROR_CODE_TABLE, statusOfErrorCode } from "../../src/upstream/error-codes";

const README = readFileSync(path.join(__dirname, "..", "..", "README.md"), "utf8");

describe("error-code table", () => {
  test("the README's table is the module's, row for row", () => {
    const start = README.indexOf("| meaning | v2.x | v1.x | PaddleFL | gRPC status |");
    expect(start).toBeGreaterThan(0);
    const rows = README.slice(start)
      .split("\n")
      .slice(2)
      .filter((l, i, all) => l.startsWith("|") && all.slice(0, i).every((x) => x.startsWith("|")));
    const cell = (c: string): string | undefined => (c.trim() === "" ? undefined : c.trim().replace(/`/g, ""));
    const parsed = rows.map((l) => {
      const [meaning, v2, v1, px, status] = l.split("|").slice(1, 6);
      return { meaning: meaning!.trim(), v2: cell(v2!), v1: cell(v1!), px: cell(px!), status: cell(status!) };
    });
    expect(parsed).toEqual(
      ERROR_CODE_TABLE.map((r) => ({ meaning: r.meaning, v2: r.v2, v1: r.v1, px: r.px, status: Status[r.status] })),
    );
  });

  test("every code appears once; the two xdb families agree row by row (spec §7)", () => {
    const codes = ERROR_CODE_TABLE.flatMap((r) => [r.v2, r.v1, r.px].filter(Boolean));
    expect(new Set(codes).size).toBe(codes.length);
    for (const r of ERROR_CODE_TABLE) {
      if (r.v2 && r.v1) expect(r.v1).toBe(`XDAT00${r.v2.slice(3)}`);
    }
    expect(statusOfErrorCode("10008")).toBe(Status.UNAUTHENTICATED);
    expect(statusOfErrorCode("10004")).toBe(Status.NOT_FOUND);
    expect(statusOfErrorCode("nope")).toBe(Status.UNKNOWN);
  });
});
