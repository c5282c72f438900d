/** The simulated Executor's release table (spec §4, §7). */
import {
  DEFAULT_EXECUTOR_VERSION,
  EXECUTOR_BEHAVIOUR,
  EXECUTOR_VERSIONS,
  isExecutorVersion,
} from "../../src/sim/version";

describe("Executor versions", () => {
  test.each([
    ["v1", true],
    ["v2", true],
    ["V2", false],
    ["v2.0.1", false],
    ["", false],
    ["v3", true],
    ["v4", false],
    ["toString", false],
  ])("isExecutorVersion(%p) = %p", (s, ok) => {
    expect(isExecutorVersion(s)).toBe(ok);
  });

  test("the default is a v2.x Executor, and every release has a row", () => {
    expect(DEFAULT_EXECUTOR_VERSION).toBe("v2");
    expect(Object.keys(EXECUTOR_BEHAVIOUR).sort()).toEqual([...EXECUTOR_VERSIONS].sort());
  });

  test.each([
    ["v1", "XDAT", false],
    ["v2", "1000", true],
    ["v3", "1000", true],
  ] as const)("%s: codes in its family, timeEnd <= 0 open-ended = %p", (v, family, open) => {
    const b = EXECUTOR_BEHAVIOUR[v];
    for (const code of Object.values(b.codes)) expect(code.startsWith(family)).toBe(true);
    expect(new Set(Object.values(b.codes)).size).toBe(4);
    expect(b.openEndedTimeEnd).toBe(open);
  });
});
