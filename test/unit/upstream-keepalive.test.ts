/** Channel keepalive an Executor's grpc-go server accepts with its default enforcement (spec §9). */
import { DEFAULT_KEEPALIVE_TIME_MS, GRPC_GO_MIN_PING_INTERVAL_MS, keepaliveOptions } from "../../src/upstream/pool";
import { parseConfig } from "../../src/config/load";

describe("keepaliveOptions", () => {
  test("the default pings no sooner than grpc-go's MinTime, and only while calls are in flight", () => {
    const o = keepaliveOptions();
    expect(GRPC_GO_MIN_PING_INTERVAL_MS).toBe(300_000);
    expect(o["grpc.keepalive_time_ms"]).toBe(DEFAULT_KEEPALIVE_TIME_MS);
    expect(DEFAULT_KEEPALIVE_TIME_MS).toBeGreaterThan(GRPC_GO_MIN_PING_INTERVAL_MS);
    expect(o["grpc.keepalive_permit_without_calls"]).toBe(0);
    expect(o["grpc.keepalive_timeout_ms"]).toBe(20_000);
  });

  test("configured values are passed through", () => {
    expect(keepaliveOptions(400_000, 5000)).toEqual({
      "grpc.keepalive_time_ms": 400_000,
      "grpc.keepalive_timeout_ms": 5000,
      "grpc.keepalive_permit_without_calls": 0,
    });
  });

  test("the config default is the same fact", () => {
    expect(parseConfig({}).executors.keepaliveTimeMs).toBe(DEFAULT_KEEPALIVE_TIME_MS);
  });
});
