/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", {}] },
  testTimeout: 60000,
  // Integration tests start real servers and Redis processes; two workers fit a 2-core machine.
  maxWorkers: 2,
  // `npm run coverage` (whole suite) and `npm run coverage:unit`: text summary plus lcov in coverage/.
  collectCoverageFrom: ["src/**/*.ts", "!src/gen/**"],
  coverageReporters: ["text-summary", "lcov"],
};
