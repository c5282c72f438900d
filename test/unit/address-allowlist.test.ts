import { parseAddress, parseListen } from "../../src/upstream/address";
import { AllowList, AllowListError } from "../../src/upstream/allowlist";
import { ExecutorRegistry } from "../../src/upstream/registry";
import { decodeTaskView } from "../../src/wire/task-view";
import { FLTask } from "../../src/gen/task/task";
import { fakeKey } from "../helpers/ledger-gen";

describe("parseAddress", () => {
  test.each([
    ["10.0.0.11:8184", "10.0.0.11:8184", true],
    ["Exec-1.DAI.svc:8184", "exec-1.dai.svc:8184", false],
    ["localhost:1", "localhost:1", false],
    ["[::1]:8184", "[::1]:8184", true],
    ["[2001:DB8:0:0::1]:65535", "[2001:db8::1]:65535", true],
    ["[::ffff:10.0.0.1]:8184", "[::ffff:a00:1]:8184", true],
  ])("%s -> %s", (input, canonical, isIp) => {
    const a = parseAddress(input);
    expect(a).not.toBeNull();
    expect(a!.canonical).toBe(canonical);
    expect(a!.isIp).toBe(isIp);
  });

  test.each([
    "",
    "10.0.0.11",
    ":8184",
    "10.0.0.11:",
    "10.0.0.11:0",
    "10.0.0.11:65536",
    "10.0.0.11:-1",
    "10.0.0.11:84a",
    "::1:8184",
    "[::1]8184",
    "[::1:8184",
    "[10.0.0.1]:8184",
    "exec_1.svc:8184",
    "-exec.svc:8184",
    "exec..svc:8184",
    "127.1:8184",
    "010.0.0.1:8184",
    "0x7f000001:8184",
    "exec.0x10:8184",
    "a b:8184",
    `${"a".repeat(64)}.svc:8184`,
    "http://10.0.0.1:8184",
  ])("rejects %j", (input) => {
    expect(parseAddress(input)).toBeNull();
  });

  test("listen addresses allow port 0", () => {
    expect(parseListen("127.0.0.1:0")).toEqual({ host: "127.0.0.1", port: 0, target: "127.0.0.1:0" });
    expect(parseListen("[::]:8184").target).toBe("[::]:8184");
    expect(() => parseListen("nope")).toThrow(/bad listen address/);
  });
});

describe("AllowList", () => {
  const cases: [pattern: string, allowed: string[], refused: string[]][] = [
    ["10.0.0.0/8", ["10.0.0.1:8184", "10.255.255.255:1", "[::ffff:10.1.2.3]:8184"], ["11.0.0.1:8184", "ten.svc:8184"]],
    ["127.0.0.1/32", ["127.0.0.1:7000", "127.0.0.1:8184"], ["127.0.0.2:7000", "[::1]:7000"]],
    ["fd00::/8", ["[fd12::1]:8184", "[FD00::ABCD]:1"], ["[fe80::1]:8184", "10.0.0.1:8184"]],
    ["127.0.0.1", ["127.0.0.1:1", "127.0.0.1:8184"], ["127.0.0.2:1", "localhost:1"]],
    ["127.0.0.1:8184", ["127.0.0.1:8184"], ["127.0.0.1:8185"]],
    ["[::1]:8184", ["[::1]:8184", "[0:0:0:0:0:0:0:1]:8184"], ["[::1]:8185", "127.0.0.1:8184"]],
    ["::1", ["[::1]:9"], ["[::2]:9"]],
    ["exec-1.dai.svc", ["exec-1.dai.svc:8184", "EXEC-1.dai.svc:1"], ["exec-2.dai.svc:8184", "x.exec-1.dai.svc:8184"]],
    ["exec-1.dai.svc:8184", ["exec-1.dai.svc:8184"], ["exec-1.dai.svc:8185"]],
    ["*.dai.svc:8184", ["a.dai.svc:8184", "a.b.dai.svc:8184"], ["dai.svc:8184", "adai.svc:8184", "a.dai.svc:8185"]],
    ["*.dai.svc", ["a.dai.svc:1", "a.dai.svc:65535"], ["a.dai.svc.evil:1"]],
    ["*.dai.svc:*", ["a.dai.svc:1"], ["dai.svc:1"]],
    ["10.0.0.1:*", ["10.0.0.1:1", "10.0.0.1:9"], ["10.0.0.2:1"]],
  ];

  test.each(cases)("%s", (pattern, allowed, refused) => {
    const list = new AllowList([pattern]);
    for (const a of allowed) expect([a, list.allows(a)]).toEqual([a, true]);
    for (const a of refused) expect([a, list.allows(a)]).toEqual([a, false]);
  });

  test("a CIDR never matches a host name, a host pattern never an IP literal", () => {
    expect(new AllowList(["0.0.0.0/0", "::/0"]).allows("localhost:8184")).toBe(false);
    expect(new AllowList(["*.svc"]).allows("10.0.0.1:8184")).toBe(false);
  });

  test("empty list allows nothing; malformed addresses are never allowed", () => {
    expect(new AllowList([]).allows("10.0.0.1:8184")).toBe(false);
    const all = new AllowList(["0.0.0.0/0", "*.svc:*"]);
    for (const bad of ["10.0.0.1", "10.0.0.1:0", "0x0a000001:8184", "a.svc", "", "a.svc:99999"]) {
      expect([bad, all.allows(bad)]).toEqual([bad, false]);
    }
  });

  test.each([
    "",
    "*",
    "*:8184",
    "a.*.svc",
    "*svc",
    "10.0.0.0/33",
    "10.0.0.0/8:8184",
    "10/8",
    "1.2.3/24",
    "1.2.3",
    "010.0.0.1",
    "0x0a.0.0.1",
    "10.0.0.1:0",
    "10.0.0.1:70000",
    "exec.svc:",
    "exec.svc:http",
    "[::1",
    "[::1]x",
    "exec_1.svc",
  ])("refuses malformed pattern %j", (pattern) => {
    expect(() => new AllowList([pattern])).toThrow(AllowListError);
  });
});

function taskNaming(ds: { address: string; executor?: Buffer }[]) {
  return decodeTaskView(
    Buffer.from(
      FLTask.encode(
        FLTask.fromPartial({ iD: "t", dataSets: ds.map((d) => ({ address: d.address, executor: d.executor })) }),
      ).finish(),
    ),
  );
}

describe("ExecutorRegistry", () => {
  test("discovery admits only allowed, well-formed addresses, below the cap, and learns keys", () => {
    const reg = new ExecutorRegistry(new AllowList(["10.0.0.0/8"]), 3);
    reg.addSeed("10.0.0.1:8184");
    const out = reg.discoverFrom([
      taskNaming([
        { address: "10.0.0.1:8184", executor: fakeKey(1) },
        { address: "10.0.0.2:8184", executor: fakeKey(2) },
        { address: "192.168.0.1:8184", executor: fakeKey(3) },
        { address: "not an address", executor: fakeKey(4) },
        { address: "10.0.0.3:8184" },
        { address: "10.0.0.4:8184", executor: fakeKey(5) },
      ]),
    ]);
    expect(out.added).toEqual(["10.0.0.2:8184", "10.0.0.3:8184"]);
    expect(out.refused).toEqual({ notAllowed: 1, malformed: 1, full: 1, budget: 0 });
    expect(reg.addresses()).toEqual(["10.0.0.1:8184", "10.0.0.2:8184", "10.0.0.3:8184"]);
    expect(reg.get("10.0.0.1:8184")!.pubKey).toEqual(fakeKey(1));
    expect(reg.get("10.0.0.2:8184")!.pubKey).toEqual(fakeKey(2));
    expect(reg.get("10.0.0.3:8184")!.pubKey).toBeUndefined();
  });

  test("an address never changes key once known; short keys are not learned", () => {
    const reg = new ExecutorRegistry(new AllowList(["10.0.0.0/8"]), 10);
    reg.offer("10.0.0.2:8184", Buffer.alloc(10, 1));
    expect(reg.get("10.0.0.2:8184")!.pubKey).toBeUndefined();
    const v = reg.version;
    reg.offer("10.0.0.2:8184", fakeKey(2));
    expect(reg.version).toBeGreaterThan(v);
    reg.offer("10.0.0.2:8184", fakeKey(9));
    expect(reg.get("10.0.0.2:8184")!.pubKey).toEqual(fakeKey(2));
  });

  test("seeds bypass the allow-list, are canonicalised, and keep their configured key", () => {
    const reg = new ExecutorRegistry(new AllowList([]), 10);
    reg.addSeed("EXEC-1.svc:8184", fakeKey(1));
    reg.addSeed("exec-1.svc:8184");
    expect(reg.list()).toMatchObject([{ address: "exec-1.svc:8184", source: "seed", pubKey: fakeKey(1) }]);
    expect(() => reg.addSeed("exec-1.svc")).toThrow(/bad seed address/);
    // With an empty allow-list discovery adds nothing.
    expect(reg.discoverFrom([taskNaming([{ address: "10.0.0.9:8184" }])]).added).toEqual([]);
    expect(reg.resolve("Exec-1.SVC:8184")).toBe("exec-1.svc:8184");
    expect(reg.resolve("10.0.0.9:8184")).toBeUndefined();
  });

  test("equivalent spellings of one address are one Executor", () => {
    const reg = new ExecutorRegistry(new AllowList(["::/0"]), 10);
    reg.discoverFrom([taskNaming([{ address: "[0:0::1]:8184" }, { address: "[::1]:8184" }])]);
    expect(reg.addresses()).toEqual(["[::1]:8184"]);
  });
});
