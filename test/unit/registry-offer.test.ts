/** ExecutorRegistry.offer: members learn their key once; others pass the allow-list and the cap. */
import { AllowList } from "../../src/upstream/allowlist";
import { ExecutorRegistry } from "../../src/upstream/registry";

const key = (b: number): Buffer => Buffer.alloc(64, b);

describe("ExecutorRegistry.offer", () => {
  test("a member learns its key once, whether spelled canonically or not", () => {
    const reg = new ExecutorRegistry(new AllowList([]), 10);
    reg.addSeed("127.0.0.1:7000");
    reg.addSeed("[::1]:7001");
    const v0 = reg.version;
    expect(reg.offer("127.0.0.1:7000", key(1))).toBe(false);
    expect(reg.get("127.0.0.1:7000")?.pubKey?.equals(key(1))).toBe(true);
    expect(reg.version).toBe(v0 + 1);
    expect(reg.offer("127.0.0.1:7000", key(2))).toBe(false);
    expect(reg.get("127.0.0.1:7000")?.pubKey?.equals(key(1))).toBe(true);
    expect(reg.version).toBe(v0 + 1);
    // A non-canonical spelling of a member reaches the same entry.
    const ipv6 = reg.addresses().find((a) => a.includes("::1"))!;
    expect(reg.offer("[0:0:0:0:0:0:0:1]:7001", key(3))).toBe(false);
    expect(reg.get(ipv6)?.pubKey?.equals(key(3))).toBe(true);
    expect(reg.size).toBe(2);
  });

  test("the learnt key is a copy, not a view into the task bytes", () => {
    const reg = new ExecutorRegistry(new AllowList([]), 10);
    reg.addSeed("127.0.0.1:7000");
    const taskBytes = Buffer.concat([Buffer.from([1, 2]), key(5)]);
    reg.offer("127.0.0.1:7000", taskBytes.subarray(2));
    taskBytes.fill(0);
    expect(reg.get("127.0.0.1:7000")?.pubKey?.equals(key(5))).toBe(true);
  });

  test("non-members join only when allowed and below the cap", () => {
    const reg = new ExecutorRegistry(new AllowList(["127.0.0.1"]), 2);
    reg.addSeed("127.0.0.1:7000");
    expect(reg.offer("10.0.0.1:7000", key(1))).toBe(false);
    expect(reg.offer("127.0.0.1:7001", key(1))).toBe(true);
    expect(reg.offer("127.0.0.1:7002", key(2))).toBe(false);
    expect(reg.addresses().sort()).toEqual(["127.0.0.1:7000", "127.0.0.1:7001"]);
  });
});
