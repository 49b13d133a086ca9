import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from './config.ts';
import { PlexusError } from './errors.ts';

test('an empty environment gives the documented defaults', () => {
  const c = loadConfig({}, '/srv/plexus');
  assert.equal(c.port, 4000);
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.dataDir, path.resolve('/srv/plexus', 'data'));
  assert.equal(c.databaseUrl, null);
  assert.equal(c.redisUrl, null);
  assert.equal(c.maxFrameBytes, 65536);
  assert.equal(c.idleTimeoutSeconds, 60);
});

test('resource limits have their documented defaults and ranges: MAX_CHANNELS_PER_SOCKET 8, MAX_CONNECTIONS_PER_IP 100, PRESENCE_META_MAX_BYTES 4096, PRESENCE_UPDATE_* 5/s burst 10', () => {
  const d = loadConfig({}, '/');
  assert.deepEqual([d.maxChannelsPerSocket, d.maxConnectionsPerIp, d.presenceMetaMaxBytes, d.presenceUpdateRatePerSecond, d.presenceUpdateBurst], [8, 100, 4096, 5, 10]);
  const c = loadConfig({ MAX_CHANNELS_PER_SOCKET: '3', MAX_CONNECTIONS_PER_IP: '2', PRESENCE_META_MAX_BYTES: '1024', PRESENCE_UPDATE_RATE_PER_SECOND: '1', PRESENCE_UPDATE_BURST: '2' }, '/');
  assert.deepEqual([c.maxChannelsPerSocket, c.maxConnectionsPerIp, c.presenceMetaMaxBytes, c.presenceUpdateRatePerSecond, c.presenceUpdateBurst], [3, 2, 1024, 1, 2]);
  assert.throws(() => loadConfig({ MAX_CONNECTIONS_PER_IP: '0' }, '/'), /MAX_CONNECTIONS_PER_IP=0 is out of range/);
  assert.throws(() => loadConfig({ PRESENCE_META_MAX_BYTES: '100' }, '/'), /PRESENCE_META_MAX_BYTES=100 is out of range/);
  assert.throws(() => loadConfig({ PRESENCE_UPDATE_BURST: 'lots' }, '/'), /not a whole number/);
});

test('REDIS_URL accepts redis:// and rediss:// URLs', () => {
  assert.equal(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }, '/').redisUrl, 'redis://127.0.0.1:6379');
  assert.equal(loadConfig({ REDIS_URL: ' rediss://u:p@cache.example:6380/2 ' }, '/').redisUrl, 'rediss://u:p@cache.example:6380/2');
});

test('REDIS_SHARDED_PUBSUB is off by default and takes true/false/1/0', () => {
  assert.equal(loadConfig({}, '/').redisShardedPubsub, false);
  assert.equal(loadConfig({ REDIS_SHARDED_PUBSUB: 'true' }, '/').redisShardedPubsub, true);
  assert.equal(loadConfig({ REDIS_SHARDED_PUBSUB: '0' }, '/').redisShardedPubsub, false);
});

test('REDIS_FLUSH_INTERVAL_MS is 2 by default, takes 0 to 50, and refuses the rest', () => {
  assert.equal(loadConfig({}, '/').redisFlushIntervalMs, 2);
  assert.equal(loadConfig({ REDIS_FLUSH_INTERVAL_MS: '0' }, '/').redisFlushIntervalMs, 0);
  assert.equal(loadConfig({ REDIS_FLUSH_INTERVAL_MS: '50' }, '/').redisFlushIntervalMs, 50);
  assert.throws(() => loadConfig({ REDIS_FLUSH_INTERVAL_MS: '51' }, '/'), /REDIS_FLUSH_INTERVAL_MS=51 is out of range/);
  assert.throws(() => loadConfig({ REDIS_FLUSH_INTERVAL_MS: '1.5' }, '/'), /not a whole number/);
});

test('DB_TIMEOUT_MS is 5000 and REDIS_TIMEOUT_MS 2000 by default; both refuse values out of range', () => {
  assert.equal(loadConfig({}, '/').dbTimeoutMs, 5000);
  assert.equal(loadConfig({}, '/').redisTimeoutMs, 2000);
  assert.equal(loadConfig({ DB_TIMEOUT_MS: '250', REDIS_TIMEOUT_MS: '300' }, '/').dbTimeoutMs, 250);
  assert.throws(() => loadConfig({ DB_TIMEOUT_MS: '50' }, '/'), /DB_TIMEOUT_MS=50 is out of range/);
  assert.throws(() => loadConfig({ REDIS_TIMEOUT_MS: '0' }, '/'), /REDIS_TIMEOUT_MS=0 is out of range/);
});

test('PUBLIC_URL takes a base URL and is unset by default', () => {
  assert.equal(loadConfig({}, '/').publicUrl, null);
  assert.equal(loadConfig({ PUBLIC_URL: 'https://node1.example.com' }, '/').publicUrl, 'https://node1.example.com');
  assert.equal(loadConfig({ PUBLIC_URL: 'http://10.0.0.5:4000/' }, '/').publicUrl, 'http://10.0.0.5:4000/');
});

test('variables override the defaults', () => {
  const c = loadConfig({ PORT: '0', HOST: '0.0.0.0', DATA_DIR: '/tmp/x', DATABASE_URL: 'postgres://u@h/db', MAX_FRAME_BYTES: '2048' }, '/');
  assert.deepEqual([c.port, c.host, c.dataDir, c.databaseUrl, c.maxFrameBytes], [0, '0.0.0.0', '/tmp/x', 'postgres://u@h/db', 2048]);
});

test('sign-in settings: SMTP_URL, MAIL_FROM, ADMIN_EMAIL, PERMS_PRIVATE_KEY and AUTH_ALLOWED_ORIGINS have documented defaults and take values', () => {
  const d = loadConfig({}, '/');
  assert.deepEqual([d.smtpUrl, d.mailFrom, d.adminEmail, d.permsPrivateKey, d.authAllowedOrigins], [null, 'Plexus <noreply@localhost>', null, null, null]);
  const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const c = loadConfig(
    {
      SMTP_URL: 'smtp://u:p@mail.example:587',
      MAIL_FROM: 'Rooms <rooms@example.org>',
      ADMIN_EMAIL: 'Admin@Example.org',
      PERMS_PRIVATE_KEY: pem.replace(/\n/g, '\\n'),
      AUTH_ALLOWED_ORIGINS: 'https://rooms.example.org, http://localhost:8080',
    },
    '/',
  );
  assert.equal(c.smtpUrl, 'smtp://u:p@mail.example:587');
  assert.equal(c.mailFrom, 'Rooms <rooms@example.org>');
  assert.equal(c.adminEmail, 'Admin@Example.org');
  assert.equal(c.permsPrivateKey?.trim(), pem.trim(), 'one-line PEM with \\n escapes becomes the PEM');
  assert.deepEqual(c.authAllowedOrigins, ['https://rooms.example.org', 'http://localhost:8080']);
});

const bad: Array<[Record<string, string>, RegExp]> = [
  [{ PORT: 'eighty' }, /PORT="eighty" is not a whole number/],
  [{ PORT: '70000' }, /PORT=70000 is out of range/],
  [{ MAX_FRAME_BYTES: '10' }, /MAX_FRAME_BYTES=10 is out of range; set it between 1024/],
  [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL must start with postgres/],
  [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL="loud" is not one of/],
  [{ HOST: 'a b' }, /HOST="a b" is not a host name/],
  [{ SESSION_SECRET: 'short' }, /SESSION_SECRET must be at least 32 characters/],
  [{ REDIS_URL: 'http://localhost:6379' }, /REDIS_URL must start with redis:\/\/ or rediss:\/\//],
  [{ REDIS_SHARDED_PUBSUB: 'yes' }, /REDIS_SHARDED_PUBSUB="yes" must be true or false/],
  [{ PUBLIC_URL: 'node1.example.com' }, /PUBLIC_URL="node1.example.com" is not a base URL/],
  [{ PUBLIC_URL: 'https://node1.example.com/plexus' }, /PUBLIC_URL=.* is not a base URL/],
  [{ PUBLIC_URL: 'ftp://node1.example.com' }, /PUBLIC_URL=.* is not a base URL/],
  [{ SMTP_URL: 'http://mail.example' }, /SMTP_URL must look like smtp:\/\//],
  [{ ADMIN_EMAIL: 'nobody' }, /ADMIN_EMAIL="nobody" is not an email address/],
  [{ PERMS_PRIVATE_KEY: 'not a key' }, /PERMS_PRIVATE_KEY is not a PEM private key/],
  [{ PERMS_PRIVATE_KEY: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }, /PERMS_PRIVATE_KEY is a ec key; perms tokens are RS512/],
  [{ PERMS_PRIVATE_KEY: generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }, /PERMS_PRIVATE_KEY is a 1024-bit RSA key; RS512 needs at least 2048/],
  [{ AUTH_ALLOWED_ORIGINS: 'https://rooms.example/path' }, /AUTH_ALLOWED_ORIGINS: "https:\/\/rooms.example\/path" is not an origin/],
];
for (const [env, message] of bad) {
  test(`a bad value (${Object.keys(env)[0]}=${Object.values(env)[0]}) is refused with a message naming the variable`, () => {
    assert.throws(() => loadConfig(env), (err: unknown) => err instanceof PlexusError && err.code === 'config_invalid' && message.test(err.message));
  });
}

test('TRUSTED_PROXIES takes IPs and CIDR blocks and refuses anything else, naming the variable', () => {
  assert.deepEqual(loadConfig({}, '/').trustedProxies, []);
  assert.deepEqual(loadConfig({ TRUSTED_PROXIES: '10.0.0.5, 192.168.0.0/16,fd00::/8' }, '/').trustedProxies, ['10.0.0.5', '192.168.0.0/16', 'fd00::/8']);
  for (const bad of ['10.0.0.0/33', 'proxy.example', '10.0.0.1/8/2']) {
    assert.throws(() => loadConfig({ TRUSTED_PROXIES: bad }, '/'), (e: unknown) => e instanceof PlexusError && /TRUSTED_PROXIES/.test(e.message), bad);
  }
});

test('ALLOWED_ORIGINS, the sign-in mail limits and SERVE_SOURCE_MAPS have their documented defaults', () => {
  const c = loadConfig({}, '/');
  assert.deepEqual([c.allowedOrigins, c.authMailPerAddressPerHour, c.authMailPerIpPerHour, c.serveSourceMaps], [[], 5, 30, false]);
  assert.deepEqual(loadConfig({ ALLOWED_ORIGINS: 'https://hubs.example.org' }, '/').allowedOrigins, ['https://hubs.example.org']);
  assert.throws(() => loadConfig({ ALLOWED_ORIGINS: 'https://hubs.example.org/path' }, '/'), /ALLOWED_ORIGINS/);
});
