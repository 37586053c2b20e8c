import { loadConfig } from '../../config';
import { connectionOptions } from '../../worker/temporal';

/** Start-up configuration: one clear line naming the variable and the rule. */
test('defaults give the embedded quick start', () => {
  const c = loadConfig({});
  expect(c).toMatchObject({
    TEMPORAL_ADDRESS: '127.0.0.1:7233',
    TEMPORAL_NAMESPACE: 'default',
    PORT: 3000,
    LOG_LEVEL: 'info',
    WORKER_MAX_CACHED_WORKFLOWS: 500,
  });
  expect(c.DATABASE_URL).toBeUndefined();
  expect(c.TEMPORAL_TLS).toBe(false);
});

test.each([
  [{ PORT: '70000' }, /^Invalid configuration: PORT .*65535.* \(got "70000"\)$/],
  [{ PORT: 'abc' }, /^Invalid configuration: PORT .*number.*\(got "abc"\)$/],
  [
    { TEMPORAL_ADDRESS: 'localhost' },
    /^Invalid configuration: TEMPORAL_ADDRESS must be host:port \(got "localhost"\)$/,
  ],
  [{ DATABASE_URL: 'mysql://x' }, /^Invalid configuration: DATABASE_URL must be a postgresql:\/\/ URL/],
  [{ LOG_LEVEL: 'loud' }, /^Invalid configuration: LOG_LEVEL .*"debug"/],
  [{ TEMPORAL_TLS: 'yes' }, /^Invalid configuration: TEMPORAL_TLS /],
  [{ WORKER_MAX_CACHED_WORKFLOWS: '-1' }, /^Invalid configuration: WORKER_MAX_CACHED_WORKFLOWS .*>=0/],
  [{ JWT_SECRET: 'short' }, /^Invalid configuration: JWT_SECRET must be at least 16 characters/],
  [
    { TEMPORAL_TLS_CERT_PATH: '/c.pem' },
    /TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together/,
  ],
])('%j is refused with one line naming it', (env, message) => {
  expect(() => loadConfig(env)).toThrow(message);
  try {
    loadConfig(env);
  } catch (e) {
    expect((e as Error).message).not.toContain('\n');
  }
});

test('Temporal Cloud: an API key implies TLS in the connection options', () => {
  const opts = connectionOptions(
    loadConfig({ TEMPORAL_ADDRESS: 'ns.a1b2c.tmprl.cloud:7233', TEMPORAL_API_KEY: 'key-123' }),
  );
  expect(opts).toMatchObject({ address: 'ns.a1b2c.tmprl.cloud:7233', tls: true, apiKey: 'key-123' });
});
