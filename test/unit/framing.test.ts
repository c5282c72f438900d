/**
 * The one gRPC frame decoder of the own transport (src/transport/framing.ts), used by the
 * client for replies and the server for requests: any chunking gives the same message,
 * a message over the limit is refused from its prefix, compressed and second messages
 * are refused, and a stream that ends inside a frame is "partial".
 */
import fc from "fast-check";
import { UnaryFrameDecoder } from "../../src/transport/framing";

function frame(message: Buffer, flag = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** Cuts `buf` at the given offsets (sorted, deduplicated), as DATA frames might. */
function chunks(buf: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, buf.length]) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  return out;
}

describe("UnaryFrameDecoder", () => {
  test("chunk boundaries anywhere (in the prefix, the message, empty chunks) give the same message", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 12 }), (bytes, cuts) => {
        const message = Buffer.from(bytes);
        const d = new UnaryFrameDecoder(1000);
        for (const c of chunks(frame(message), cuts)) expect(d.push(c)).toBeUndefined();
        const got = d.result();
        expect(Buffer.isBuffer(got) && got.equals(message)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  test("a message inside one chunk is a view into it (no copy)", () => {
    const wire = frame(Buffer.from("hello"));
    const d = new UnaryFrameDecoder(100);
    d.push(wire);
    const got = d.result() as Buffer;
    expect(got.buffer).toBe(wire.buffer);
    expect(got.toString()).toBe("hello");
  });

  test("a message over the limit is refused from its prefix, before its bytes arrive", () => {
    const d = new UnaryFrameDecoder(10);
    // Only the prefix (and one byte of the message) has arrived.
    const wire = frame(Buffer.alloc(11));
    expect(d.push(wire.subarray(0, 3))).toBeUndefined();
    expect(d.push(wire.subarray(3, 6))).toEqual({ kind: "too-large", length: 11, limit: 10 });
    // Exactly the limit is fine.
    const ok = new UnaryFrameDecoder(10);
    expect(ok.push(frame(Buffer.alloc(10)))).toBeUndefined();
    expect((ok.result() as Buffer).length).toBe(10);
  });

  test("a compressed message is refused from its flag", () => {
    const d = new UnaryFrameDecoder(100);
    expect(d.push(frame(Buffer.from("x"), 1).subarray(0, 5))).toEqual({ kind: "compressed" });
  });

  test("a second message is refused, whether it starts in the same chunk or a later one", () => {
    const two = Buffer.concat([frame(Buffer.from("a")), frame(Buffer.from("b"))]);
    expect(new UnaryFrameDecoder(100).push(two)).toEqual({ kind: "second-message" });
    const d = new UnaryFrameDecoder(100);
    expect(d.push(two.subarray(0, 6))).toBeUndefined();
    expect(d.push(two.subarray(6, 9))).toBeUndefined();
    expect(d.push(two.subarray(9))).toEqual({ kind: "second-message" });
  });

  test("an empty message is a message; no prefix is none; a cut frame is partial", () => {
    const empty = new UnaryFrameDecoder(100);
    empty.push(frame(Buffer.alloc(0)));
    expect(empty.result()).toEqual(Buffer.alloc(0));
    expect(new UnaryFrameDecoder(100).result()).toBe("none");
    const cutPrefix = new UnaryFrameDecoder(100);
    cutPrefix.push(Buffer.from([0, 0, 0]));
    expect(cutPrefix.result()).toBe("partial");
    const cutMessage = new UnaryFrameDecoder(100);
    cutMessage.push(frame(Buffer.from("hello")).subarray(0, 7));
    expect(cutMessage.result()).toBe("partial");
  });
});
