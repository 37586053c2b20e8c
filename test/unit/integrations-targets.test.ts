import net from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  TargetError,
  assertWebhookTarget,
  isPrivateAddress,
  postWebhook,
  type Resolver,
} from '../../api/integrations/targets';

/** Webhook targets (SSRF): which addresses are refused, and that the check holds at connect time. */

/** Forms that reach the platform's own or private networks, as literals and as `new URL` rewrites them. */
const BLOCKED_LITERALS = [
  'https://127.0.0.1/x',
  'https://[::1]/x',
  'https://[::ffff:127.0.0.1]/x', // new URL → [::ffff:7f00:1]
  'https://[::ffff:7f00:1]/x',
  'https://[::7f00:1]/x', // IPv4-compatible
  'https://[::127.0.0.1]/x',
  'https://[::ffff:0:7f00:1]/x', // IPv4-translated
  'https://[64:ff9b::a00:1]/x', // NAT64 of 10.0.0.1
  'https://[64:ff9b::169.254.169.254]/x',
  'https://[2002:7f00:1::]/x', // 6to4 of 127.0.0.1
  'https://[2002:a9fe:a9fe::1]/x', // 6to4 of 169.254.169.254
  'https://[fec0::1]/x', // site-local
  'https://[fd00::1]/x', // unique local
  'https://[fe80::1]/x', // link-local
  'https://[ff02::1]/x', // multicast
  'https://[::]/x',
  'https://[2001:db8::1]/x', // documentation
  'https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x', // Teredo
  'https://10.1.2.3/x',
  'https://172.16.0.1/x',
  'https://192.168.1.1/x',
  'https://169.254.169.254/latest',
  'https://100.64.0.1/x', // CGNAT
  'https://0.0.0.0/x',
  'https://192.0.2.10/x', // documentation
  'https://198.51.100.1/x',
  'https://203.0.113.1/x',
  'https://224.0.0.1/x',
  'https://255.255.255.255/x',
  'https://2130706433/x', // decimal 127.0.0.1
  'https://0x7f.1/x',
];

test.each(BLOCKED_LITERALS)('%s is refused as a webhook target', async (url) => {
  await expect(assertWebhookTarget(url, false)).rejects.toThrow(/non-public address/);
  await expect(
    postWebhook(url, { headers: {}, body: '{}', timeoutMs: 1000 }, { allowPrivate: false }),
  ).rejects.toBeInstanceOf(TargetError);
});

test('public addresses, including IPv6 forms of a public IPv4, are accepted', async () => {
  for (const ip of [
    '8.8.8.8',
    '172.32.0.1',
    '2001:4860:4860::8888',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
    '2606:4700::1111',
  ])
    expect([ip, isPrivateAddress(ip)]).toEqual([ip, false]);
  for (const ip of ['127.0.0.1', '::1', 'fe80::1%eth0', 'not-an-ip'])
    expect([ip, isPrivateAddress(ip)]).toEqual([ip, true]);
  await expect(assertWebhookTarget('https://8.8.8.8/x', false)).resolves.toBeInstanceOf(URL);
  await expect(assertWebhookTarget('https://[2001:4860:4860::8888]/x', false)).resolves.toBeInstanceOf(URL);
  await expect(assertWebhookTarget('http://8.8.8.8/x', false)).rejects.toThrow('https');
  await expect(assertWebhookTarget('https://user:pw@8.8.8.8/x', false)).rejects.toThrow('credentials');
  // The development override.
  await expect(assertWebhookTarget('http://127.0.0.1:8080/x', true)).resolves.toBeInstanceOf(URL);
});

describe('a name is checked again at connect time, against the address connected to', () => {
  let server: net.Server;
  let port = 0;
  let connections = 0;
  const sockets = new Set<net.Socket>();
  beforeAll(async () => {
    server = net.createServer((socket) => {
      connections += 1;
      sockets.add(socket);
      socket.end('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  /** A DNS answer that changes after the subscription was checked (rebinding). */
  function rebinding(): { resolve: Resolver; calls: string[] } {
    const calls: string[] = [];
    const resolve: Resolver = async (host) => {
      calls.push(host);
      return calls.length === 1 ? ['93.184.216.34'] : ['127.0.0.1'];
    };
    return { resolve, calls };
  }

  test('a host that resolved to a public address at subscription and to 127.0.0.1 at delivery is not connected to', async () => {
    const { resolve, calls } = rebinding();
    const url = `http://hooks.example.test:${port}/hook`;
    // Checked at subscription time (https is not required here only because the check is the name's).
    await expect(assertWebhookTarget(url.replace('http:', 'https:'), false, resolve)).resolves.toBeInstanceOf(
      URL,
    );
    const before = connections;
    await expect(
      postWebhook(
        url.replace('http:', 'https:'),
        { headers: {}, body: '{}', timeoutMs: 2000 },
        { allowPrivate: false, resolve },
      ),
    ).rejects.toThrow('the webhook host hooks.example.test resolves to a non-public address (127.0.0.1)');
    expect(calls).toEqual(['hooks.example.test', 'hooks.example.test']);
    expect(connections).toBe(before);
  });

  test('control: with private targets allowed (development) the same answer is connected to', async () => {
    const resolve: Resolver = async () => ['127.0.0.1'];
    const before = connections;
    const status = await postWebhook(
      `http://hooks.example.test:${port}/hook`,
      { headers: {}, body: '{}', timeoutMs: 2000 },
      { allowPrivate: true, resolve },
    );
    expect(status).toBe(204);
    expect(connections).toBe(before + 1);
  });
});
