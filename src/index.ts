/**
 * The package's programmatic entry (`main`): start a gateway from a configuration,
 * as `dai-gateway serve` does.
 */
export { startGateway, type RunningGateway } from "./gateway";
export { loadConfig, parseConfig, ConfigError } from "./config/load";
export type { GatewayConfig, ConfigInput } from "./config/schema";
export { createLogger } from "./log";
export type { TaskReader, ListAnswer, GetAnswer, ReadOptions } from "./core/reader";
export type { UnaryTransport } from "./upstream/transport";
