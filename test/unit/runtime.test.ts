/** runtime.* (src/core/runtime.ts): what is set on V8 at start. */
import v8 from "node:v8";
import { applyRuntimeSettings } from "../../src/core/runtime";
import { parseConfig } from "../../src/config/load";

afterEach(() => jest.restoreAllMocks());

test("heapGrowingPercent is passed to V8 as --heap-growing-percent; 0 leaves V8's own", () => {
  const set = jest.spyOn(v8, "setFlagsFromString").mockImplementation(() => {});
  applyRuntimeSettings({ heapGrowingPercent: 50 });
  expect(set).toHaveBeenCalledWith("--heap-growing-percent=50");
  set.mockClear();
  applyRuntimeSettings({ heapGrowingPercent: 0 });
  expect(set).not.toHaveBeenCalled();
});

test("the default is 50, and a bad value names the key", () => {
  expect(parseConfig({}).runtime.heapGrowingPercent).toBe(50);
  expect(() => parseConfig({ runtime: { heapGrowingPercent: -1 } })).toThrow(/runtime\.heapGrowingPercent/);
});
