/**
 * The framing floor's HPACK decoder (bench/lib/hpack.ts) on RFC 7541's own examples
 * (Appendix C.3: requests without Huffman coding; C.4: the same with it), each list
 * decoded on one connection's context so the dynamic table carries over, and on
 * malformed blocks, which must throw HpackError rather than read past the block.
 */
import { HpackDecoder, HpackError } from "../../bench/lib/hpack";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");
const pairs = (flat: string[]): [string, string][] => {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
};
const decodeAll = (d: HpackDecoder, block: Buffer): [string, string][] => pairs(d.decode(block, 0, block.length));

const FIRST: [string, string][] = [
  [":method", "GET"],
  [":scheme", "http"],
  [":path", "/"],
  [":authority", "www.example.com"],
];
const SECOND: [string, string][] = [...FIRST, ["cache-control", "no-cache"]];
const THIRD: [string, string][] = [
  [":method", "GET"],
  [":scheme", "https"],
  [":path", "/index.html"],
  [":authority", "www.example.com"],
  ["custom-key", "custom-value"],
];

describe("bench HPACK decoder", () => {
  it("decodes RFC 7541 C.3 (no Huffman) with the dynamic table carried across requests", () => {
    const d = new HpackDecoder();
    expect(decodeAll(d, hex("828684410f7777772e6578616d706c652e636f6d"))).toEqual(FIRST);
    expect(decodeAll(d, hex("828684be58086e6f2d6361636865"))).toEqual(SECOND);
    expect(decodeAll(d, hex("828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565"))).toEqual(THIRD);
  });

  it("decodes RFC 7541 C.4 (Huffman) the same", () => {
    const d = new HpackDecoder();
    expect(decodeAll(d, hex("828684418cf1e3c2e5f23a6ba0ab90f4ff"))).toEqual(FIRST);
    expect(decodeAll(d, hex("828684be5886a8eb10649cbf"))).toEqual(SECOND);
    expect(decodeAll(d, hex("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"))).toEqual(THIRD);
  });

  it("refuses malformed blocks", () => {
    const bad = [
      "80", // index 0
      "be", // index 62 with an empty dynamic table
      "410f7777", // a string longer than the block
      "ff", // an integer cut short
      "3fe21f", // a table size update over the announced 4096
      "4188ffffffffffffffff", // Huffman padding longer than 7 bits
    ];
    for (const b of bad) expect(() => new HpackDecoder().decode(hex(b), 0, hex(b).length)).toThrow(HpackError);
  });

  it("evicts to the table size a size update sets", () => {
    const d = new HpackDecoder();
    decodeAll(d, hex("828684410f7777772e6578616d706c652e636f6d"));
    // Size update to 0, then index 62: the entry is gone.
    expect(() => decodeAll(d, hex("20be"))).toThrow(HpackError);
  });
});
