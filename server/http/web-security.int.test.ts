/**
 * Web hardening on a real node: security headers on every response, JSON
 * endpoints refusing other content types, returned URLs never built from an
 * untrusted Host or X-Forwarded-*, no source maps unless asked for, and the
 * WebSocket Origin allowlist.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { RawClient } from '../test-support/raw-client.ts';
import { startTestServer, type TestServer } from '../test-support/test-server.ts';

const clientDir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-client-'));
fs.writeFileSync(path.join(clientDir, 'index.html'), '<title>lobby</title>');
fs.writeFileSync(path.join(clientDir, 'room.html'), '<title>room</title>');
fs.writeFileSync(path.join(clientDir, 'app.js'), 'console.log(1)\n//# sourceMappingURL=app.js.map');
fs.writeFileSync(path.join(clientDir, 'app.js.map'), '{"version":3,"sources":["../src/main.ts"]}');

let srv: TestServer;
let proxied: TestServer;
let https: TestServer;
const clients: RawClient[] = [];
before(async () => {
  srv = await startTestServer({ env: { CLIENT_DIR: clientDir, ALLOWED_ORIGINS: 'https://hubs.example.org' } });
  proxied = await startTestServer({ env: { CLIENT_DIR: clientDir, TRUST_PROXY: 'true', SERVE_SOURCE_MAPS: 'true' } });
  https = await startTestServer({ env: { CLIENT_DIR: clientDir, PUBLIC_URL: 'https://rooms.example.net' } });
});
after(async () => {
  for (const c of clients) c.close();
  await Promise.all([srv?.stop(), proxied?.stop(), https?.stop()]);
  fs.rmSync(clientDir, { recursive: true, force: true });
});

/** A raw HTTP request (fetch does not let a test choose the Host header). */
function request(base: string, method: string, p: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const u = new URL(p, base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: u.pathname + u.search, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('every page and API response carries the security headers; pages get a CSP the A-Frame client can run under', async () => {
  for (const p of ['/', '/AbCdEfG/slug', '/api/v1/meta', '/health', '/api/v1/hubs/Nope123', '/no/such/thing/here', '/assets/app.js']) {
    const res = await fetch(`${srv.url}${p}`);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', p);
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer', p);
    assert.equal(res.headers.get('x-frame-options'), 'DENY', p);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /frame-ancestors 'none'/, p);
    if (p === '/' || p.startsWith('/AbC')) {
      assert.match(csp, /script-src 'self'(;|$)/, `${p}: no inline or eval'd scripts`);
      assert.match(csp, /style-src 'self' 'unsafe-inline'/, p);
      assert.match(csp, /img-src [^;]*blob:/, p);
    } else {
      assert.match(csp, /default-src 'none'/, p);
    }
    assert.equal(res.headers.get('strict-transport-security'), null, `${p}: no HSTS over plain http`);
  }
});

test('HSTS is sent when the client came over https: PUBLIC_URL is https, or a trusted proxy says so', async () => {
  assert.match((await fetch(`${https.url}/`)).headers.get('strict-transport-security') ?? '', /max-age=\d+/);
  assert.match((await request(proxied.url, 'GET', '/', { 'x-forwarded-proto': 'https' })).headers['strict-transport-security'] ?? '', /max-age=\d+/);
  // Without TRUST_PROXY the header is the client's word and counts for nothing.
  assert.equal((await request(srv.url, 'GET', '/', { 'x-forwarded-proto': 'https' })).headers['strict-transport-security'], undefined);
});

test('JSON endpoints refuse other content types with 415 unsupported_media_type and create nothing', async () => {
  const count = async () => Number((await srv.server.database.knex('hubs').count<{ count: string }[]>('* as count'))[0].count);
  const before = await count();
  const body = JSON.stringify({ hub: { name: 'Form post' } });
  for (const type of ['text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', null]) {
    const res = await request(srv.url, 'POST', '/api/v1/hubs', type ? { 'content-type': type } : {}, body);
    assert.equal(res.status, 415, String(type));
    const err = JSON.parse(res.body) as { error: { code: string; message: string } };
    assert.equal(err.error.code, 'unsupported_media_type');
    assert.match(err.error.message, /application\/json/);
  }
  assert.equal((await request(srv.url, 'PATCH', '/api/v1/hubs/AbCdEfG', { 'content-type': 'text/plain' }, body)).status, 415);
  assert.equal(await count(), before);
  assert.equal((await request(srv.url, 'POST', '/api/v1/hubs', { 'content-type': 'Application/JSON; charset=utf-8' }, body)).status, 200);
});

test('returned URLs and meta never reflect an untrusted Host or X-Forwarded-*; PUBLIC_URL or a trusted proxy decide', async () => {
  const spoof = { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', 'content-type': 'application/json' };
  const body = JSON.stringify({ hub: { name: 'Spoofed' } });
  const created = JSON.parse((await request(srv.url, 'POST', '/api/v1/hubs', spoof, body)).body) as { hub_id: string; url: string };
  assert.ok(created.url.startsWith(`${srv.url}/`), created.url);
  const got = JSON.parse((await request(srv.url, 'GET', `/api/v1/hubs/${created.hub_id}`, spoof)).body) as { hubs: Array<{ url: string }> };
  assert.ok(got.hubs[0]!.url.startsWith(`${srv.url}/`), got.hubs[0]!.url);
  const meta = JSON.parse((await request(srv.url, 'GET', '/api/v1/meta', spoof)).body) as { phx_host: string };
  assert.equal(meta.phx_host, '127.0.0.1');
  // A loopback alias of the node's own port is one of a fixed few, so it may be named.
  const port = new URL(srv.url).port;
  assert.equal((JSON.parse((await request(srv.url, 'GET', '/api/v1/meta', { host: `localhost:${port}` })).body) as { phx_host: string }).phx_host, 'localhost');
  // PUBLIC_URL wins over everything.
  const pub = JSON.parse((await request(https.url, 'POST', '/api/v1/hubs', spoof, body)).body) as { url: string };
  assert.ok(pub.url.startsWith('https://rooms.example.net/'), pub.url);
  // Behind a trusted proxy (TRUST_PROXY, loopback peer) its headers are believed.
  const viaProxy = JSON.parse((await request(proxied.url, 'POST', '/api/v1/hubs', { ...spoof, host: 'hubs.example.org', 'x-forwarded-host': 'hubs.example.org' }, body)).body) as { url: string };
  assert.ok(viaProxy.url.startsWith('https://hubs.example.org/'), viaProxy.url);
});

test('source maps are not served unless SERVE_SOURCE_MAPS=true', async () => {
  const res = await fetch(`${srv.url}/assets/app.js.map`);
  assert.equal(res.status, 404);
  assert.match(((await res.json()) as { error: { message: string } }).error.message, /SERVE_SOURCE_MAPS/);
  assert.equal((await fetch(`${srv.url}/assets/app.js`)).status, 200);
  assert.equal((await fetch(`${proxied.url}/assets/app.js.map`)).status, 200);
});

test('a WebSocket from a page of another origin is refused at the upgrade with 403 origin_not_allowed; own, listed and absent origins pass', async () => {
  const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const u = new URL(srv.url);
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: '/socket/websocket?vsn=2.0.0',
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', origin: 'https://evil.example' },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('upgrade', () => reject(new Error('the upgrade was accepted')));
    req.on('error', reject);
    req.end();
  });
  assert.equal(refused.status, 403);
  assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'origin_not_allowed');
  await assert.rejects(RawClient.connect(srv.url, '', { origin: 'null' }), /403/);
  await assert.rejects(RawClient.connect(srv.url, '', { origin: 'http://127.0.0.1:1' }), /403/, 'another port is another origin');
  const port = new URL(srv.url).port;
  for (const origin of [srv.url, `http://localhost:${port}`, 'https://hubs.example.org', undefined]) {
    const c = await RawClient.connect(srv.url, '', origin ? { origin } : {});
    clients.push(c);
    const joined = await c.join('ret', { hub_id: 'none' });
    assert.equal(joined[4].status, 'ok', String(origin));
  }
  // Behind a trusted proxy the page's origin is the one the proxy names.
  const c = await RawClient.connect(proxied.url, '', { origin: 'https://hubs.example.org', host: 'hubs.example.org', 'x-forwarded-proto': 'https' });
  clients.push(c);
  await assert.rejects(RawClient.connect(proxied.url, '', { origin: 'https://evil.example', host: 'hubs.example.org', 'x-forwarded-proto': 'https' }), /403/);
});
