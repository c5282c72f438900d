/** Executor addresses: `host:port`, IPv6 as `[addr]:port`, in one canonical spelling. */
import ipaddr from "ipaddr.js";

export interface ParsedAddress {
  /** Lower-case host name, or the IP literal in canonical form (IPv6 without brackets). */
  host: string;
  port: number;
  isIp: boolean;
  /** `host:port` (or `[v6]:port`): the key the gateway uses for an Executor. */
  canonical: string;
}

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * A name whose last label is a number (`127.1`, `0x7f000001`, `a.0x10`) is not a host name:
 * the system resolver reads such names as IPv4 literals, which would let them dodge
 * IP-based allow patterns.
 */
function endsInNumber(host: string): boolean {
  const last = host.slice(host.lastIndexOf(".") + 1);
  return /^(0x[0-9a-f]*|[0-9]+)$/.test(last);
}

/** Parses `host:port`; null when it is not a usable gRPC target. */
export function parseAddress(input: string): ParsedAddress | null {
  if (input.length === 0 || input.length > 300) return null;
  let hostPart: string;
  let portPart: string;
  if (input.startsWith("[")) {
    const close = input.indexOf("]");
    if (close < 0 || input[close + 1] !== ":") return null;
    hostPart = input.slice(1, close);
    portPart = input.slice(close + 2);
    if (!ipaddr.IPv6.isValid(hostPart)) return null;
  } else {
    const colon = input.lastIndexOf(":");
    if (colon <= 0) return null;
    hostPart = input.slice(0, colon);
    portPart = input.slice(colon + 1);
    if (hostPart.includes(":")) return null;
  }
  if (!/^[0-9]{1,5}$/.test(portPart)) return null;
  const port = Number(portPart);
  if (port < 1 || port > 65535) return null;

  if (ipaddr.isValid(hostPart) && (hostPart.includes(":") || ipaddr.IPv4.isValidFourPartDecimal(hostPart))) {
    const ip = ipaddr.parse(hostPart);
    const host = ip.toString();
    return { host, port, isIp: true, canonical: ip.kind() === "ipv6" ? `[${host}]:${port}` : `${host}:${port}` };
  }
  const host = hostPart.toLowerCase();
  if (!HOSTNAME.test(host) || endsInNumber(host)) return null;
  return { host, port, isIp: false, canonical: `${host}:${port}` };
}

/** A listen address: like an Executor address, but port 0 (pick a free port) is allowed. */
export function parseListen(input: string): { host: string; port: number; target: string } {
  const zeroPort = /:0$/.test(input);
  const parsed = parseAddress(zeroPort ? input.replace(/:0$/, ":1") : input);
  if (parsed === null) throw new Error(`bad listen address "${input}"`);
  const port = zeroPort ? 0 : parsed.port;
  const host = parsed.host;
  return { host, port, target: parsed.isIp && host.includes(":") ? `[${host}]:${port}` : `${host}:${port}` };
}
