/**
 * gRPC's length-prefixed message framing on the receiving side of a unary call, for the
 * own client (the reply) and the own server (the request), defined once.
 *
 * Each message is a 5-byte prefix (compressed flag, big-endian uint32 length) and the
 * message; HTTP/2 DATA frames may cut it anywhere. The decoder:
 * - refuses a message whose length is over the limit from its prefix alone, before any of
 *   its bytes arrive (the caller stops reading: the stream is reset or refused);
 * - refuses a compressed message (the flag set: we accept only identity);
 * - refuses a second message (a unary call carries one);
 * - copies nothing when the message arrives inside one chunk (a view into it), else
 *   allocates the message once, from its prefix, and copies each chunk's part into it.
 */

export type FrameProblem =
  { kind: "compressed" } | { kind: "too-large"; length: number; limit: number } | { kind: "second-message" };

const EMPTY = Buffer.alloc(0);

export class UnaryFrameDecoder {
  private readonly head = Buffer.allocUnsafe(5);
  private headLen = 0;
  private body?: Buffer;
  /** The current message's length; -1 between messages. */
  private bodyLen = -1;
  private got = 0;
  private messages = 0;

  constructor(private readonly limit: number) {}

  /**
   * Reads one chunk. A problem means the call is refused: nothing after it is read, and
   * the decoder must not be fed again.
   */
  push(chunk: Buffer): FrameProblem | undefined {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.bodyLen < 0) {
        // The prefix, possibly split across chunks.
        const take = Math.min(5 - this.headLen, chunk.length - pos);
        chunk.copy(this.head, this.headLen, pos, pos + take);
        this.headLen += take;
        pos += take;
        if (this.headLen < 5) return undefined;
        if (++this.messages > 1) return { kind: "second-message" };
        if (this.head[0] !== 0) return { kind: "compressed" };
        const len = this.head.readUInt32BE(1);
        if (len > this.limit) return { kind: "too-large", length: len, limit: this.limit };
        this.bodyLen = len;
        this.got = 0;
        if (len === 0) {
          this.body = EMPTY;
        } else if (chunk.length - pos >= len) {
          // The whole message in this chunk: a view, no copy.
          this.body = chunk.subarray(pos, pos + len);
          this.got = len;
          pos += len;
        } else {
          this.body = Buffer.allocUnsafe(len);
        }
      }
      if (this.got < this.bodyLen) {
        const take = Math.min(this.bodyLen - this.got, chunk.length - pos);
        chunk.copy(this.body!, this.got, pos, pos + take);
        this.got += take;
        pos += take;
      }
      if (this.got === this.bodyLen) {
        // Complete: bytes after it start another prefix (refused as a second message).
        this.headLen = 0;
        this.bodyLen = -1;
      }
    }
    return undefined;
  }

  /**
   * At the end of the stream: the message, "none" when no prefix ever came, "partial"
   * when the stream ended inside a prefix or a message.
   */
  result(): Buffer | "none" | "partial" {
    if (this.bodyLen >= 0 || this.headLen > 0) return "partial";
    return this.body ?? "none";
  }
}
