/**
 * How the gateway connects to one Executor address: which target the channel dials
 * (DNS-checked and pinned for discovered host names), and plain text or TLS.
 *
 * DNS safety: the allow-list admits *names*; a discovered name could still resolve to
 * an address the operator never meant the gateway to reach (metadata services,
 * loopback, another network). So before any connection to a discovered host name,
 * the name is resolved (bounded time, small bounded cache) and every resolved IP must
 * match `executors.dns.resolvedAllow` (default: the IP and CIDR patterns of
 * `executors.discoveryAllow`). If one does not — or resolution fails — the address is
 * refused: no connection is made, and the call reports it failed ("refused: ...").
 * The check is repeated whenever the cached resolution expires. The channel then dials
 * the checked IP itself (not the name), so a later DNS answer cannot redirect it
 * (DNS rebinding); the name is still sent as authority and TLS server name.
 * Seeds and IP-literal addresses are not resolved: the allow-list (or the operator,
 * for seeds) already decided on the exact address.
 */
import { lookup } from "node:dns/promises";
import * as grpc from "@grpc/grpc-js";
import ipaddr from "ipaddr.js";
import { LRUCache } from "lru-cache";
import { readPem } from "../config/pem";
import { parseAddress } from "./address";
import { AllowList } from "./allowlist";

export interface UpstreamTlsRule {
  match: string;
  ca: string;
  cert?: string;
  key?: string;
  serverName?: string;
}

export interface DnsOptions {
  resolvedAllow?: string[];
  timeoutMs: number;
  cacheMs: number;
  maxEntries: number;
}

/** Plain TLS options (PEM bytes) for transports that dial with node:tls themselves. */
export interface DialTls {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Name checked against the server's certificate (and sent as SNI when it is a host name). */
  servername: string;
}

/** The same decision as `target`/`credentials`, spelled for a node:http2 transport. */
export interface Dial {
  /** IP or host name to connect to (IPv6 without brackets). */
  host: string;
  port: number;
  /** The `:authority` of each request (the Executor's own address). */
  authority: string;
  /** Absent: plain text (h2c). */
  tls?: DialTls;
}

export interface ConnectTarget {
  /** What the channel dials. */
  target: string;
  credentials: grpc.ChannelCredentials;
  options: grpc.ChannelOptions;
  /** Changes when the channel must be rebuilt (new pinned IP). */
  key: string;
  dial: Dial;
}

/** The address may not be connected to; nothing was sent. Not the Executor's fault. */
export class RefusedAddressError extends Error {
  override name = "RefusedAddressError";
}

export type Resolver = (host: string) => Promise<string[]>;

const systemResolver: Resolver = async (host) => (await lookup(host, { all: true })).map((a) => a.address);

/** The IP and CIDR patterns of an allow list (host-name patterns say nothing about IPs). */
export function ipPatterns(patterns: readonly string[]): string[] {
  return patterns.filter((p) => {
    const s = p.trim();
    if (s.includes("/")) return true;
    const host = s.startsWith("[") ? s.slice(1, s.indexOf("]")) : s.includes(".") ? s.split(":")[0]! : s;
    return ipaddr.isValid(host) || ipaddr.isValid(s);
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new RefusedAddressError(`${what}: DNS lookup took longer than ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

type Resolution = { ips: string[] } | { refused: string };

export class DnsGuard {
  private readonly allowed: AllowList;
  private readonly cache: LRUCache<string, Resolution>;
  private readonly inflight = new Map<string, Promise<Resolution>>();

  constructor(
    private readonly opts: DnsOptions,
    discoveryAllow: readonly string[],
    private readonly resolver: Resolver = systemResolver,
  ) {
    const own = opts.resolvedAllow ?? [];
    this.allowed = new AllowList(own.length > 0 ? own : ipPatterns(discoveryAllow));
    this.cache = new LRUCache({ max: opts.maxEntries, ttl: opts.cacheMs });
  }

  /**
   * Resolves `host` and checks every IP at `port`; the checked IPs, or a refusal.
   * One lookup per name is shared by concurrent callers; each waits at most its own budget.
   */
  async check(host: string, port: number, budgetMs = this.opts.timeoutMs): Promise<string[]> {
    const key = `${host}:${port}`;
    let r = this.cache.get(key);
    if (r === undefined) {
      let p = this.inflight.get(key);
      if (p === undefined) {
        p = this.resolve(host, port, this.opts.timeoutMs).finally(() => this.inflight.delete(key));
        this.inflight.set(key, p);
      }
      const budget = Math.max(1, Math.min(budgetMs, this.opts.timeoutMs));
      r = budget < this.opts.timeoutMs ? await withTimeout(p, budget, `refused: ${host}`) : await p;
    }
    if ("refused" in r) throw new RefusedAddressError(r.refused);
    return r.ips;
  }

  private async resolve(host: string, port: number, timeoutMs: number): Promise<Resolution> {
    let ips: string[];
    try {
      ips = await withTimeout(this.resolver(host), timeoutMs, `refused: ${host}`);
    } catch (err) {
      // Not cached: a timeout or resolver hiccup is retried on the next call.
      const msg = err instanceof RefusedAddressError ? err.message : `refused: ${host} does not resolve`;
      return { refused: msg };
    }
    let r: Resolution;
    const bad = ips.find((ip) => !this.allowed.allows(ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`));
    if (ips.length === 0) r = { refused: `refused: ${host} resolves to no address` };
    else if (bad !== undefined)
      r = { refused: `refused: ${host} resolves to ${bad}, not in executors.dns.resolvedAllow` };
    else r = { ips };
    this.cache.set(`${host}:${port}`, r);
    return r;
  }
}

interface CompiledTlsRule {
  allow: AllowList;
  credentials: grpc.ChannelCredentials;
  serverName?: string;
  pem: { ca: Buffer; cert?: Buffer; key?: Buffer };
}

export function compileTlsRules(rules: readonly UpstreamTlsRule[]): CompiledTlsRule[] {
  return rules.map((r, i) => {
    if ((r.cert === undefined) !== (r.key === undefined)) {
      throw new Error(`executors.tls[${i}]: cert and key go together`);
    }
    const pem = {
      ca: readPem(r.ca, `executors.tls[${i}].ca`),
      key: r.key ? readPem(r.key, `executors.tls[${i}].key`) : undefined,
      cert: r.cert ? readPem(r.cert, `executors.tls[${i}].cert`) : undefined,
    };
    return {
      allow: new AllowList([r.match]),
      credentials: grpc.credentials.createSsl(pem.ca, pem.key ?? null, pem.cert ?? null),
      serverName: r.serverName,
      pem,
    };
  });
}

export class UpstreamConnector {
  private readonly tls: CompiledTlsRule[];

  constructor(
    tlsRules: readonly UpstreamTlsRule[],
    private readonly dns: DnsGuard | undefined,
    /** Addresses that skip the DNS check (seeds). */
    private readonly trusted: (address: string) => boolean = () => false,
  ) {
    this.tls = compileTlsRules(tlsRules);
  }

  /** Where and how to connect for `address`; rejects with RefusedAddressError when it must not be. */
  async connect(address: string, budgetMs?: number): Promise<ConnectTarget> {
    const parsed = parseAddress(address);
    if (parsed === null) throw new RefusedAddressError(`refused: "${address}" is not host:port`);
    const rule = this.tls.find((r) => r.allow.allows(parsed));
    const credentials = rule?.credentials ?? grpc.credentials.createInsecure();
    const options: grpc.ChannelOptions = {};
    if (rule?.serverName) options["grpc.ssl_target_name_override"] = rule.serverName;
    const tls = (servername: string): DialTls | undefined =>
      rule ? { ...rule.pem, servername: rule.serverName ?? servername } : undefined;
    if (parsed.isIp || this.dns === undefined || this.trusted(parsed.canonical)) {
      const dial = { host: parsed.host, port: parsed.port, authority: parsed.canonical, tls: tls(parsed.host) };
      return { target: parsed.canonical, credentials, options, key: parsed.canonical, dial };
    }
    const ips = await this.dns.check(parsed.host, parsed.port, budgetMs);
    // Pin the checked IP; if the current one is still among the answers, keep it (no reconnect).
    const ip = [...ips].sort()[0]!;
    const target = ip.includes(":") ? `[${ip}]:${parsed.port}` : `${ip}:${parsed.port}`;
    options["grpc.default_authority"] = parsed.canonical;
    if (rule && !rule.serverName) options["grpc.ssl_target_name_override"] = parsed.host;
    const dial = { host: ip, port: parsed.port, authority: parsed.canonical, tls: tls(parsed.host) };
    return { target, credentials, options, key: target, dial };
  }
}
