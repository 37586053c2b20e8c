import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

/**
 * Webhook targets must be public: a subscription must not make the platform call into its own
 * network (SSRF). Non-public addresses are refused unless WEBHOOK_ALLOW_PRIVATE_TARGETS=true (local
 * development and tests). A name is checked when the subscription is created (a clear 422) and
 * again inside every connection, by the `lookup` the socket uses: the address checked is the
 * address connected to, so a DNS answer that changes afterwards (rebinding) cannot slip through.
 */
export function allowPrivateTargets(env: Record<string, string | undefined> = process.env): boolean {
  return ['true', '1'].includes(env.WEBHOOK_ALLOW_PRIVATE_TARGETS ?? '');
}

/** Not publicly routable, or not meant to be called: loopback, private, CGNAT, documentation… */
const BLOCKED: Array<[string, number, 'ipv4' | 'ipv6']> = [
  ['0.0.0.0', 8, 'ipv4'], // "this network", unspecified
  ['10.0.0.0', 8, 'ipv4'], // private
  ['100.64.0.0', 10, 'ipv4'], // CGNAT
  ['127.0.0.0', 8, 'ipv4'], // loopback
  ['169.254.0.0', 16, 'ipv4'], // link-local (cloud metadata)
  ['172.16.0.0', 12, 'ipv4'], // private
  ['192.0.0.0', 24, 'ipv4'], // IETF protocol assignments
  ['192.0.2.0', 24, 'ipv4'], // documentation (TEST-NET-1)
  ['192.88.99.0', 24, 'ipv4'], // 6to4 relay anycast
  ['192.168.0.0', 16, 'ipv4'], // private
  ['198.18.0.0', 15, 'ipv4'], // benchmarking
  ['198.51.100.0', 24, 'ipv4'], // documentation (TEST-NET-2)
  ['203.0.113.0', 24, 'ipv4'], // documentation (TEST-NET-3)
  ['224.0.0.0', 4, 'ipv4'], // multicast
  ['240.0.0.0', 4, 'ipv4'], // reserved, broadcast
  ['::', 128, 'ipv6'], // unspecified
  ['::1', 128, 'ipv6'], // loopback
  ['64:ff9b:1::', 48, 'ipv6'], // local-use NAT64
  ['100::', 64, 'ipv6'], // discard-only
  ['2001::', 23, 'ipv6'], // IETF protocol assignments, Teredo
  ['2001:db8::', 32, 'ipv6'], // documentation
  ['3fff::', 20, 'ipv6'], // documentation
  ['fc00::', 7, 'ipv6'], // unique local
  ['fe80::', 10, 'ipv6'], // link-local
  ['fec0::', 10, 'ipv6'], // site-local (deprecated, still routed by some stacks)
  ['ff00::', 8, 'ipv6'], // multicast
];
const blockList = new net.BlockList();
for (const [prefix, bits, family] of BLOCKED) blockList.addSubnet(prefix, bits, family);

/** The 16 bytes of an IPv6 address (any textual form, with or without a dotted IPv4 tail). */
function v6Bytes(ip: string): number[] {
  let s = ip.toLowerCase().replace(/%.*$/, '');
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 255];
  });
}

const startsWith = (bytes: number[], prefix: number[]) => prefix.every((b, i) => bytes[i] === b);
const zeros = (n: number) => Array<number>(n).fill(0);

/**
 * The IPv4 address an IPv6 form carries and is routed by: IPv4-mapped (::ffff:a.b.c.d, which
 * `new URL` rewrites to ::ffff:7f00:1), IPv4-compatible (::a.b.c.d), IPv4-translated
 * (::ffff:0:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002:aabb:ccdd::/48).
 */
function embeddedV4(bytes: number[]): string | null {
  const at = (i: number) => bytes.slice(i, i + 4).join('.');
  if (
    startsWith(bytes, [...zeros(10), 0xff, 0xff]) ||
    startsWith(bytes, zeros(12)) ||
    startsWith(bytes, [...zeros(8), 0xff, 0xff, 0, 0]) ||
    startsWith(bytes, [0, 0x64, 0xff, 0x9b, ...zeros(8)])
  )
    return at(12);
  if (startsWith(bytes, [0x20, 0x02])) return at(2);
  return null;
}

/** Whether a webhook may not connect to `ip`; anything that is not an IP address is refused too. */
export function isPrivateAddress(ip: string): boolean {
  if (net.isIPv4(ip)) return blockList.check(ip, 'ipv4');
  const bare = ip.replace(/%.*$/, '');
  if (!net.isIPv6(bare)) return true;
  const bytes = v6Bytes(bare);
  const v4 = embeddedV4(bytes);
  if (v4 !== null) return blockList.check(v4, 'ipv4');
  const canonical = Array.from({ length: 8 }, (_, i) =>
    ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16),
  );
  return blockList.check(canonical.join(':'), 'ipv6');
}

export class TargetError extends Error {
  override name = 'TargetError';
}

/** Every address a name resolves to (injected in tests, to play a DNS answer that changes). */
export type Resolver = (host: string) => Promise<string[]>;
const systemResolver: Resolver = (host) =>
  dns.promises.lookup(host, { all: true, verbatim: true }).then((r) => r.map((a) => a.address));

async function resolvePublic(host: string, resolve: Resolver): Promise<string[]> {
  const addresses = await resolve(host).catch(() => {
    throw new TargetError(`the webhook host ${host} does not resolve`);
  });
  if (!addresses.length) throw new TargetError(`the webhook host ${host} does not resolve`);
  const bad = addresses.find(isPrivateAddress);
  if (bad) throw new TargetError(`the webhook host ${host} resolves to a non-public address (${bad})`);
  return addresses;
}

/** The URL's own rules (scheme, no credentials) and, for an IP literal, its address. */
function checkTargetUrl(raw: string, allowPrivate: boolean): { url: URL; host: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetError('the webhook URL is not a valid absolute URL');
  }
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:'))
    throw new TargetError('webhook URLs must use https');
  if (url.username || url.password) throw new TargetError('webhook URLs must not carry credentials');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!allowPrivate && net.isIP(host) && isPrivateAddress(host))
    throw new TargetError(`the webhook host ${host} is a non-public address`);
  return { url, host };
}

/** Throws TargetError when the URL is not an acceptable webhook target (at subscription time). */
export async function assertWebhookTarget(
  raw: string,
  allowPrivate: boolean,
  resolve: Resolver = systemResolver,
): Promise<URL> {
  const { url, host } = checkTargetUrl(raw, allowPrivate);
  if (!allowPrivate && !net.isIP(host)) await resolvePublic(host, resolve);
  return url;
}

/** A socket `lookup` that answers only public addresses (unless private targets are allowed). */
function guardedLookup(resolve: Resolver, allowPrivate: boolean): net.LookupFunction {
  return (hostname, options, callback) => {
    (allowPrivate ? resolve(hostname) : resolvePublic(hostname, resolve)).then(
      (addresses) => {
        const wanted = addresses
          .map((address) => ({ address, family: net.isIPv6(address) ? 6 : 4 }))
          .filter((a) => !options.family || a.family === options.family);
        if (!wanted.length)
          return callback(new TargetError(`the webhook host ${hostname} has no usable address`), '', 0);
        if (options.all) return callback(null, wanted);
        callback(null, wanted[0]!.address, wanted[0]!.family);
      },
      (err: Error) => callback(err, '', 0),
    );
  };
}

/**
 * POSTs one webhook and answers its HTTP status. A fresh connection per attempt (no pooled socket
 * connected under an older DNS answer); redirects are not followed (a 3xx is a failed attempt).
 */
export async function postWebhook(
  raw: string,
  request: { headers: Record<string, string>; body: string; timeoutMs: number },
  opts: { allowPrivate: boolean; resolve?: Resolver },
): Promise<number> {
  const { url } = checkTargetUrl(raw, opts.allowPrivate);
  const send = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        headers: { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
        agent: false,
        lookup: guardedLookup(opts.resolve ?? systemResolver, opts.allowPrivate),
        signal: AbortSignal.timeout(request.timeoutMs),
      },
      (res) => {
        resolve(res.statusCode ?? 0);
        res.destroy();
      },
    );
    req.on('error', reject);
    req.end(request.body);
  });
}
