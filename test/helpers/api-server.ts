/**
 * Which server the gateways of a test serve the Task API with: `TEST_API_SERVER=http2`
 * (or grpc-js) overrides the default of `api.server`, so the key integration tests run
 * on both (`npm run test:servers`).
 */
import type { ConfigInput } from "../../src/config/schema";

const chosen = process.env.TEST_API_SERVER;
if (chosen !== undefined && chosen !== "http2" && chosen !== "grpc-js") {
  throw new Error(`TEST_API_SERVER must be http2 or grpc-js, not "${chosen}"`);
}
export const API_SERVER: "http2" | "grpc-js" | undefined = chosen;

/** `input` with `api.server` set as TEST_API_SERVER asks (unchanged when it is unset). */
export function withApiServer<T extends ConfigInput>(input: T): T {
  if (API_SERVER === undefined) return input;
  return { ...input, api: { ...input.api, server: API_SERVER } };
}
