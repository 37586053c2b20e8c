import dns from 'node:dns/promises';
import net from 'node:net';

/**
 * Webhook targets must be public: a subscription must not make the platform call into its own
 * network (SSRF). Loopback, private, link-local, CGNAT, multicast and unspecified addresses are
 * refused unless WEBHOOK_ALLOW_PRIVATE_TARGETS=true (local development and tests). Checked when a
 * subscription is created and again before every attempt, since DNS answers change.
 */
export function allowPrivateTargets(env: Record<string, string | undefined> = process.env): boolean {
  return ['true', '1'].includes(env.WEBHOOK_ALLOW_PRIVATE_TARGETS ?? '');
}

const blockedV4: Array<[string, number]> = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];

function v4ToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

export function isPrivateAddress(ip: string): boolean {
  if (net.isIPv4(ip)) {
    const n = v4ToInt(ip);
    return blockedV4.some(([base, bits]) => {
      const size = 2 ** (32 - bits);
      return Math.floor(n / size) === Math.floor(v4ToInt(base) / size);
    });
  }
  const v6 = ip.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(v6);
  if (mapped) return isPrivateAddress(mapped[1]!);
  return (
    v6 === '::' ||
    v6 === '::1' ||
    /^f[cd]/.test(v6) || // unique local fc00::/7
    /^fe[89ab]/.test(v6) || // link-local fe80::/10
    v6.startsWith('ff') // multicast
  );
}

export class TargetError extends Error {}

/** Throws TargetError when the URL is not an acceptable webhook target. */
export async function assertWebhookTarget(raw: string, allowPrivate: boolean): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetError('the webhook URL is not a valid absolute URL');
  }
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:'))
    throw new TargetError('webhook URLs must use https');
  if (url.username || url.password) throw new TargetError('webhook URLs must not carry credentials');
  if (allowPrivate) return url;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const addresses = net.isIP(host)
    ? [host]
    : await dns.lookup(host, { all: true }).then(
        (r) => r.map((a) => a.address),
        () => {
          throw new TargetError(`the webhook host ${host} does not resolve`);
        },
      );
  const bad = addresses.find(isPrivateAddress);
  if (bad) throw new TargetError(`the webhook host ${host} resolves to a non-public address (${bad})`);
  return url;
}
