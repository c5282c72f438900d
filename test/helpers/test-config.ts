/**
 * The gateway config for tests: as `parseConfig`, but load shedding off unless the test
 * asks for it. A test process runs the gateway, the simulated Executors and the test itself
 * on one event loop (beside another jest worker on 2 CPUs), so the loop's lag there is the
 * test's own doing, not the gateway's overload; the shedding tests set their own targets.
 */
import { parseConfig } from "../../src/config/load";
import type { GatewayConfig } from "../../src/config/schema";
import { API_SERVER } from "./api-server";

type Section = Record<string, unknown>;

export function testConfig(input: Section = {}): GatewayConfig {
  const api = (input.api ?? {}) as Section;
  const http = (input.http ?? {}) as Section;
  // TEST_API_SERVER (test/helpers/api-server.ts) picks api.server when the test does not.
  const server = API_SERVER !== undefined && api.server === undefined ? { server: API_SERVER } : {};
  return parseConfig({ ...input, api: { shedLagMs: 0, ...server, ...api }, http: { shedLagMs: 0, ...http } });
}
