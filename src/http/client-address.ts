import { isIP } from 'node:net';
import type { Context } from 'koa';
import type { Logger } from 'pino';

/** Where a request came from, by the one rule every rate limit and log line uses. */
export interface ClientAddresses {
  /** The client's IP address in canonical form (see canonicalAddress). */
  address(ctx: Context): string;
  /** The key per-address limits count under: addressBucket of address(ctx). */
  bucket(ctx: Context): string;
}

/**
 * `trustedHops` proxies in front each append the address they were connected from to X-Forwarded-For,
 * so only the last `trustedHops` entries are theirs and everything to the left is whatever the client
 * wrote. The client is the entry the nearest trusted proxy added; anything else (no header, an entry
 * that is not an IP address) is the socket's address. Koa's `proxy` option takes the leftmost entry,
 * the one the client controls, so it is not used.
 */
export function clientAddresses(options: { trustedHops: number; logger: Logger }): ClientAddresses {
  const { trustedHops, logger } = options;
  let warned = false;

  function address(ctx: Context): string {
    const forwarded = ctx.get('X-Forwarded-For');
    if (forwarded !== '') {
      if (trustedHops > 0) {
        const client = canonicalAddress(forwardedEntry(forwarded, trustedHops));
        if (client !== undefined) return client;
      } else if (!warned) {
        // Once per app (one per process): a misconfiguration, not an event worth a line per request.
        warned = true;
        logger.warn(
          { event: 'x_forwarded_for_untrusted' },
          'A request came with X-Forwarded-For but TRUST_PROXY is false: every client behind that proxy shares its address and its rate limits. Set TRUST_PROXY to the number of proxies in front (logged once).',
        );
      }
    }
    const socket = ctx.req.socket.remoteAddress;
    return (socket === undefined ? undefined : canonicalAddress(socket)) ?? 'unknown';
  }

  return { address, bucket: (ctx) => addressBucket(address(ctx)) };
}

/**
 * The entry `hops` from the right of an X-Forwarded-For value (Node joins repeated headers with ', '),
 * or the leftmost when there are fewer: Express's `trust proxy` = N (proxy-addr) does the same.
 */
export function forwardedEntry(header: string, hops: number): string {
  let end = header.length;
  for (let seen = 1; ; seen++) {
    const comma = end > 0 ? header.lastIndexOf(',', end - 1) : -1;
    if (seen >= hops || comma < 0) return header.slice(comma + 1, end).trim();
    end = comma;
  }
}

// The longest IPv6 text (six groups and a dotted quad); longer strings are not parsed at all.
const MAX_ADDRESS_LENGTH = 45;

/**
 * One spelling per address, so that one client is one counter: IPv4 as is, v4-mapped IPv6
 * (`::ffff:1.2.3.4`) as the IPv4 address, other IPv6 compressed as RFC 5952 says, without a zone.
 * Undefined when `text` is not an IP address; ports and brackets are not accepted (the proxies this
 * is for write bare addresses).
 */
export function canonicalAddress(text: string): string | undefined {
  const zone = text.indexOf('%');
  const bare = zone < 0 ? text : text.slice(0, zone);
  if (bare.length > MAX_ADDRESS_LENGTH) return undefined;
  const version = isIP(bare);
  if (version === 4) return bare;
  if (version !== 6) return undefined;
  const groups = ipv6Groups(bare);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [high, low] = [groups[6]!, groups[7]!];
    return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  }
  return formatIpv6(groups);
}

/**
 * IPv4 addresses are counted one by one; IPv6 by /64, the smallest network a subscriber is given, which
 * a client can otherwise walk through 2^64 addresses of. Takes a canonicalAddress.
 */
export function addressBucket(address: string): string {
  if (!address.includes(':')) return address;
  return `${formatIpv6([...ipv6Groups(address).slice(0, 4), 0, 0, 0, 0])}/64`;
}

/** The eight 16-bit groups of an address isIP() accepted as IPv6. */
function ipv6Groups(address: string): number[] {
  const parse = (part: string) =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [Number.parseInt(group, 16)];
          const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const gap = address.indexOf('::');
  if (gap < 0) return parse(address);
  const head = parse(address.slice(0, gap));
  const tail = parse(address.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** RFC 5952: lower-case hex without leading zeros, the longest run of two or more zero groups as `::`. */
function formatIpv6(groups: number[]): string {
  let runStart = -1;
  let runLength = 1;
  for (let i = 0; i < groups.length; ) {
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > runLength) [runStart, runLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (runStart < 0) return hex.join(':');
  return `${hex.slice(0, runStart).join(':')}::${hex.slice(runStart + runLength).join(':')}`;
}
