/**
 * Which addresses discovery may add (`executors.discoveryAllow`).
 *
 * Pattern forms:
 * - CIDR `10.0.0.0/8`, `fd00::/8`: IP-literal addresses in the range, any port;
 * - IP `127.0.0.1` or `127.0.0.1:8184`, `[::1]:8184`;
 * - host `exec-1.dai.svc` or `exec-1.dai.svc:8184`;
 * - wildcard `*.dai.svc` or `*.dai.svc:8184`: any name ending in `.dai.svc`
 *   (one or more labels in place of `*`);
 * - port `*` in place of a number matches any port.
 * A host-name pattern never matches an IP-literal address, nor a CIDR a host name.
 */
import ipaddr from "ipaddr.js";
import { parseAddress, type ParsedAddress } from "./address";

type Matcher = (a: ParsedAddress) => boolean;

export class AllowListError extends Error {
  override name = "AllowListError";
}

function portMatcher(portPart: string | undefined, pattern: string): (p: number) => boolean {
  if (portPart === undefined || portPart === "*") return () => true;
  if (!/^[0-9]{1,5}$/.test(portPart) || Number(portPart) < 1 || Number(portPart) > 65535) {
    throw new AllowListError(`bad port in allow pattern "${pattern}"`);
  }
  const port = Number(portPart);
  return (p) => p === port;
}

/**
 * An IP literal as operators write it: IPv6, or IPv4 in four decimal parts. ipaddr.js
 * also reads `10` as 0.0.0.10, `1.2.3` as 1.2.0.3 and `010.0.0.1` as octal 8.0.0.1;
 * a pattern meaning something other than it says is refused instead.
 */
function isPlainIp(s: string): boolean {
  return ipaddr.IPv6.isValid(s) || ipaddr.IPv4.isValidFourPartDecimal(s);
}

function compilePattern(pattern: string): Matcher {
  const p = pattern.trim().toLowerCase();
  if (p.includes("/")) {
    let range: [ipaddr.IPv4 | ipaddr.IPv6, number];
    try {
      if (!isPlainIp(p.slice(0, p.indexOf("/")))) throw new Error("not an IP");
      range = ipaddr.parseCIDR(p);
    } catch {
      throw new AllowListError(`bad CIDR in allow pattern "${pattern}"`);
    }
    return (a) => {
      if (!a.isIp) return false;
      let ip = ipaddr.parse(a.host);
      if (ip.kind() === "ipv6" && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
      return ip.kind() === range[0].kind() && ip.match(range);
    };
  }
  // Split an optional port: `[v6]:port`, `v6` (bare), `host:port`, `host`.
  let hostPart = p;
  let portPart: string | undefined;
  if (p.startsWith("[")) {
    const close = p.indexOf("]");
    if (close < 0) throw new AllowListError(`bad allow pattern "${pattern}"`);
    hostPart = p.slice(1, close);
    const rest = p.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw new AllowListError(`bad allow pattern "${pattern}"`);
      portPart = rest.slice(1);
    }
  } else if (!ipaddr.IPv6.isValid(p)) {
    const colon = p.lastIndexOf(":");
    if (colon >= 0) {
      hostPart = p.slice(0, colon);
      portPart = p.slice(colon + 1);
    }
  }
  const portOk = portMatcher(portPart, pattern);
  if (isPlainIp(hostPart)) {
    const want = ipaddr.parse(hostPart).toString();
    return (a) => a.isIp && a.host === want && portOk(a.port);
  }
  if (hostPart.startsWith("*.")) {
    const suffix = hostPart.slice(1);
    if (parseAddress(`x${suffix}:1`) === null) throw new AllowListError(`bad host in allow pattern "${pattern}"`);
    return (a) => !a.isIp && a.host.endsWith(suffix) && a.host.length > suffix.length && portOk(a.port);
  }
  if (hostPart.includes("*")) {
    throw new AllowListError(`bad host in allow pattern "${pattern}" (a wildcard may only lead: *.example.svc)`);
  }
  if (parseAddress(`${hostPart}:1`) === null) {
    throw new AllowListError(
      `bad host in allow pattern "${pattern}" (expected a host name, an IPv4 address in four decimal parts, or IPv6)`,
    );
  }
  return (a) => !a.isIp && a.host === hostPart && portOk(a.port);
}

/** Checks one pattern; throws AllowListError saying what is wrong with it. */
export function checkAllowPattern(pattern: string): void {
  compilePattern(pattern);
}

export class AllowList {
  private readonly matchers: Matcher[];

  constructor(readonly patterns: readonly string[]) {
    this.matchers = patterns.map(compilePattern);
  }

  /** True when the address is well formed and some pattern allows it. */
  allows(address: string | ParsedAddress): boolean {
    const a = typeof address === "string" ? parseAddress(address) : address;
    if (a === null) return false;
    return this.matchers.some((m) => m(a));
  }
}
