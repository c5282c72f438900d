/** DNS safety: discovered names are resolved and every resolved IP must be allowed. */
import { DnsGuard, ipPatterns, RefusedAddressError, UpstreamConnector } from "../../src/upstream/connect";

const dnsOpts = { timeoutMs: 200, cacheMs: 60_000, maxEntries: 16 };

function table(entries: Record<string, string[] | "hang" | "fail">): {
  resolver: (h: string) => Promise<string[]>;
  lookups: string[];
} {
  const lookups: string[] = [];
  return {
    lookups,
    resolver: (host) => {
      lookups.push(host);
      const e = entries[host];
      if (e === "hang") return new Promise(() => {});
      if (e === undefined || e === "fail") return Promise.reject(new Error("ENOTFOUND"));
      return Promise.resolve(e);
    },
  };
}

test("ipPatterns keeps the IP and CIDR patterns of an allow list", () => {
  expect(
    ipPatterns(["10.0.0.0/8", "*.dai.svc:8184", "127.0.0.1", "127.0.0.1:9", "[::1]:8184", "fd00::/8", "exec-1"]),
  ).toEqual(["10.0.0.0/8", "127.0.0.1", "127.0.0.1:9", "[::1]:8184", "fd00::/8"]);
});

describe("DnsGuard", () => {
  const t = table({
    "good.dai.svc": ["10.1.2.3", "10.1.2.4"],
    "mixed.dai.svc": ["10.1.2.3", "169.254.169.254"],
    "meta.dai.svc": ["169.254.169.254"],
    "v6.dai.svc": ["fd00::5"],
    "slow.dai.svc": "hang",
    "empty.dai.svc": [],
  });
  const guard = new DnsGuard(dnsOpts, ["*.dai.svc:8184", "10.0.0.0/8", "fd00::/8"], t.resolver);

  test("a name whose every IP is allowed passes, with its IPs", async () => {
    await expect(guard.check("good.dai.svc", 8184)).resolves.toEqual(["10.1.2.3", "10.1.2.4"]);
    await expect(guard.check("v6.dai.svc", 8184)).resolves.toEqual(["fd00::5"]);
  });

  test.each([
    ["mixed.dai.svc", /resolves to 169\.254\.169\.254/],
    ["meta.dai.svc", /resolves to 169\.254\.169\.254/],
    ["nxdomain.dai.svc", /does not resolve/],
    ["empty.dai.svc", /resolves to no address/],
    ["slow.dai.svc", /DNS lookup took longer than 200 ms/],
  ])("%s is refused", async (host, why) => {
    await expect(guard.check(host, 8184)).rejects.toThrow(RefusedAddressError);
    await expect(guard.check(host, 8184)).rejects.toThrow(why);
  });

  test("answers are cached; failures to resolve are not", async () => {
    const before = t.lookups.filter((h) => h === "good.dai.svc").length;
    await guard.check("good.dai.svc", 8184);
    expect(t.lookups.filter((h) => h === "good.dai.svc").length).toBe(before);
    const nx = t.lookups.filter((h) => h === "nxdomain.dai.svc").length;
    await guard.check("nxdomain.dai.svc", 8184).catch(() => {});
    expect(t.lookups.filter((h) => h === "nxdomain.dai.svc").length).toBe(nx + 1);
  });

  test("the cache is bounded", async () => {
    const many = table(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`h${i}.dai.svc`, ["10.0.0.1"]])));
    const g = new DnsGuard(dnsOpts, ["10.0.0.0/8"], many.resolver);
    for (let i = 0; i < 100; i++) await g.check(`h${i}.dai.svc`, 1);
    await g.check("h0.dai.svc", 1); // evicted long ago: looked up again
    expect(many.lookups.filter((h) => h === "h0.dai.svc").length).toBe(2);
  });

  test("without IP patterns (and no resolvedAllow) discovered names are refused", async () => {
    const g = new DnsGuard(dnsOpts, ["*.dai.svc:8184"], t.resolver);
    await expect(g.check("good.dai.svc", 8184)).rejects.toThrow(/not in executors.dns.resolvedAllow/);
    const g2 = new DnsGuard({ ...dnsOpts, resolvedAllow: ["10.1.2.0/24"] }, ["*.dai.svc:8184"], t.resolver);
    await expect(g2.check("good.dai.svc", 8184)).resolves.toHaveLength(2);
  });

  test("the real resolver: localhost resolves to loopback", async () => {
    const g = new DnsGuard(dnsOpts, ["127.0.0.0/8", "::1/128"]);
    const ips = await g.check("localhost", 8184);
    expect(ips.length).toBeGreaterThan(0);
    await expect(new DnsGuard(dnsOpts, ["10.0.0.0/8"]).check("localhost", 8184)).rejects.toThrow(/resolves to/);
  });
});

describe("UpstreamConnector", () => {
  const t = table({ "good.dai.svc": ["10.1.2.4", "10.1.2.3"], "bad.dai.svc": ["192.168.1.1"] });
  const guard = new DnsGuard(dnsOpts, ["10.0.0.0/8"], t.resolver);
  const connector = new UpstreamConnector([], guard, (a) => a === "seed.example:8184");

  test("a discovered name is dialled at its checked IP, with the name as authority", async () => {
    const c = await connector.connect("good.dai.svc:8184");
    expect(c.target).toBe("10.1.2.3:8184");
    expect(c.options["grpc.default_authority"]).toBe("good.dai.svc:8184");
  });

  test("a name resolving to a disallowed IP is refused before any connection", async () => {
    await expect(connector.connect("bad.dai.svc:8184")).rejects.toThrow(/resolves to 192\.168\.1\.1/);
  });

  test("IP literals and seeds are not resolved", async () => {
    const n = t.lookups.length;
    expect((await connector.connect("10.9.9.9:1")).target).toBe("10.9.9.9:1");
    expect((await connector.connect("seed.example:8184")).target).toBe("seed.example:8184");
    expect(t.lookups.length).toBe(n);
  });
});
