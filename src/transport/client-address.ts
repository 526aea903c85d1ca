import { BlockList, isIP } from 'node:net';
import { ConfigError } from '../errors.js';

/** Gives the client's address of a request, from its peer and, behind a trusted proxy, its headers. */
export type AddressResolver = (peer: string, headers: Readonly<Record<string, string>>) => string;

function family(address: string): 'ipv4' | 'ipv6' | undefined {
  const kind = isIP(address);
  return kind === 4 ? 'ipv4' : kind === 6 ? 'ipv6' : undefined;
}

/** An IPv4-mapped IPv6 address (::ffff:10.0.0.1) as the IPv4 address it is. */
function plain(address: string): string {
  const trimmed = address.trim();
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(trimmed) ? trimmed.slice(7) : trimmed;
}

/**
 * Parses --trust-proxy (addresses and CIDRs, comma-separated) into a resolver. For a peer in
 * the list, the client is the right-most address of X-Forwarded-For that is not itself a
 * trusted proxy (what every hop appended, the client's own claim last to be believed), or
 * X-Real-IP when there is no X-Forwarded-For; from any other peer the headers are ignored,
 * since anyone can send them.
 */
export function addressResolver(trustProxy: string): AddressResolver {
  const entries = trustProxy
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) return (peer) => peer;
  const trusted = new BlockList();
  for (const entry of entries) {
    const [address = '', bits] = entry.split('/');
    const kind = family(address);
    const prefix = bits === undefined ? undefined : Number(bits);
    if (!kind || (prefix !== undefined && !(Number.isInteger(prefix) && prefix >= 0 && prefix <= (kind === 'ipv4' ? 32 : 128)))) {
      throw new ConfigError(`option --trust-proxy: ${JSON.stringify(entry)} is not an IP address or CIDR (such as 127.0.0.1, 10.0.0.0/8 or ::1)`);
    }
    if (prefix === undefined) trusted.addAddress(address, kind);
    else trusted.addSubnet(address, prefix, kind);
  }
  const isTrusted = (address: string): boolean => {
    const kind = family(address);
    return kind !== undefined && trusted.check(address, kind);
  };
  return (peer, headers) => {
    if (!isTrusted(plain(peer))) return peer;
    const forwarded = headers['x-forwarded-for'];
    if (forwarded) {
      const hops = forwarded.split(',').map(plain).filter((hop) => family(hop) !== undefined);
      for (let i = hops.length - 1; i >= 0; i--) if (!isTrusted(hops[i]!)) return hops[i]!;
      return hops[0] ?? peer;
    }
    const real = plain(headers['x-real-ip'] ?? '');
    return family(real) ? real : peer;
  };
}
