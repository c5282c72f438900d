/** Delivery: how a unary reply ends (delivered, gone, cut), once, and what cutting does to the stream. */
import type { ServerHttp2Stream } from "node:http2";
import { constants as h2 } from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { Delivery, deliveryOf } from "../../src/api/delivery";

/** The part of an HTTP/2 stream Delivery touches. */
function fakeStream(destroyed = false): ServerHttp2Stream & { closedWith: number[] } {
  const s = {
    destroyed,
    closedWith: [] as number[],
    close(code: number) {
      s.closedWith.push(code);
      s.destroyed = true;
    },
  };
  return s as unknown as ServerHttp2Stream & { closedWith: number[] };
}

describe("Delivery", () => {
  test.each(["delivered", "gone", "cut"] as const)("ends once: %s first wins", async (first) => {
    const d = new Delivery(undefined);
    expect(d.state).toBeUndefined();
    d.end(first);
    d.end(first === "delivered" ? "gone" : "delivered");
    d.cut();
    expect(d.state).toBe(first);
    await expect(d.ended).resolves.toBe(first);
  });

  test("cut resets the stream with CANCEL, once", async () => {
    const s = fakeStream();
    const d = new Delivery(s);
    d.cut();
    d.cut();
    expect(s.closedWith).toEqual([h2.NGHTTP2_CANCEL]);
    await expect(d.ended).resolves.toBe("cut");
  });

  test("a delivered reply is never cut afterwards", () => {
    jest.useFakeTimers();
    try {
      const s = fakeStream();
      const d = new Delivery(s);
      d.deadline(100);
      d.end("delivered");
      jest.advanceTimersByTime(1000);
      d.cut();
      expect(s.closedWith).toEqual([]);
      expect(d.state).toBe("delivered");
    } finally {
      jest.useRealTimers();
    }
  });

  test("deadline cuts a reply not delivered in time; a new deadline replaces the old", () => {
    jest.useFakeTimers();
    try {
      const s = fakeStream();
      const d = new Delivery(s);
      d.deadline(100);
      jest.advanceTimersByTime(60);
      d.deadline(100); // restarts from now
      jest.advanceTimersByTime(60);
      expect(d.state).toBeUndefined();
      jest.advanceTimersByTime(50);
      expect(d.state).toBe("cut");
      expect(s.closedWith).toEqual([h2.NGHTTP2_CANCEL]);
    } finally {
      jest.useRealTimers();
    }
  });

  test("a stream already destroyed is not closed again", () => {
    const s = fakeStream(true);
    const d = new Delivery(s);
    d.cut();
    expect(s.closedWith).toEqual([]);
    expect(d.state).toBe("cut");
  });

  test("deadline after the end does nothing", () => {
    jest.useFakeTimers();
    try {
      const d = new Delivery(fakeStream());
      d.end("gone");
      d.deadline(1);
      jest.advanceTimersByTime(10);
      expect(d.state).toBe("gone");
    } finally {
      jest.useRealTimers();
    }
  });

  test("deliveryOf: metadata of a call not tracked has no Delivery", () => {
    expect(deliveryOf(new grpc.Metadata())).toBeUndefined();
  });
});
