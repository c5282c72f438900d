/**
 * The framing floor's HPACK decoder (bench/lib/hpack.ts) against an independent encoder:
 * Go's golang.org/x/net/http2/hpack (test/peers/hpack_encode.go, built in GOPATH mode),
 * the one grpc-go and net/http use. Random header lists — any octets in values, lengths
 * past one-byte integers, repeats that the encoder indexes, never-indexed fields, table
 * size updates down to 0 — are encoded on one Go encoder and decoded in order on one
 * decoder, as blocks on one connection would be; every list must come back as it went.
 */
import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { HpackDecoder } from "../../bench/lib/hpack";
import { buildGoPeer, hasGoPackage } from "../helpers/go-peer";

jest.setTimeout(180_000);

const hasGo = hasGoPackage("golang.org/x/net/http2/hpack");

type Field = { name: Buffer; value: Buffer; sensitive: boolean };
type Block = { size?: number; fields: Field[] };

const NAMES = [":method", ":path", ":authority", ":scheme", "content-type", "te", "user-agent", "grpc-timeout"];
const name = fc.oneof(
  fc.constantFrom(...NAMES).map((n) => Buffer.from(n)),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,40}$/).map((n) => Buffer.from(n)),
);
const value = fc.oneof(
  fc
    .constantFrom("POST", "/task.Task/ListTask", "application/grpc", "trailers", "2000m", "")
    .map((v) => Buffer.from(v)),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
);
const field = fc.record({ name, value, sensitive: fc.boolean() });
const block = fc.record(
  {
    size: fc.option(fc.integer({ min: 0, max: 4096 }), { nil: undefined, freq: 8 }),
    fields: fc.array(field, { maxLength: 12 }),
  },
  { requiredKeys: ["fields"] },
);
/** Later blocks repeat earlier fields (what the encoder's dynamic table is for). */
const run = fc.array(block, { minLength: 1, maxLength: 20 }).chain((blocks) =>
  fc.array(fc.nat(), { minLength: blocks.length, maxLength: blocks.length }).map((picks) =>
    blocks.map((b, i): Block => {
      const earlier = blocks.slice(0, i).flatMap((x) => x.fields);
      const repeats = earlier.length ? [earlier[picks[i]! % earlier.length]!] : [];
      return { ...b, fields: [...b.fields, ...repeats] };
    }),
  ),
);

(hasGo ? describe : describe.skip)("bench HPACK decoder against Go's encoder", () => {
  let bin = "";
  beforeAll(() => {
    bin = buildGoPeer("hpack_encode.go");
  });

  it("decodes every block Go encodes, in order, to the fields that went in", () => {
    fc.assert(
      fc.property(run, (blocks) => {
        const input = blocks
          .map((b) =>
            JSON.stringify({
              ...(b.size !== undefined ? { size: b.size } : {}),
              fields: b.fields.map((f) => [f.name.toString("hex"), f.value.toString("hex"), f.sensitive]),
            }),
          )
          .join("\n");
        // One line a block (an empty block is an empty line), then the final newline.
        const out = execFileSync(bin, { input: input + "\n" })
          .toString()
          .split("\n")
          .slice(0, -1);
        expect(out).toHaveLength(blocks.length);
        const decoder = new HpackDecoder();
        blocks.forEach((b, i) => {
          const bytes = Buffer.from(out[i]!, "hex");
          const flat = decoder.decode(bytes, 0, bytes.length);
          const want = b.fields.flatMap((f) => [f.name.toString("latin1"), f.value.toString("latin1")]);
          expect(flat).toEqual(want);
        });
      }),
      { numRuns: 150 },
    );
  });
});
