import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOOPBACK_PROXIES, normalIp, TrustedProxies } from './client-address.ts';

const nginx = new TrustedProxies(LOOPBACK_PROXIES);

test('behind a trusted proxy the client is the right-most untrusted X-Forwarded-For address, not a client-chosen first entry', () => {
  // nginx's $proxy_add_x_forwarded_for appends the peer it saw to what the client sent.
  assert.equal(nginx.clientIp('127.0.0.1', '6.6.6.6, 203.0.113.9'), '203.0.113.9');
  assert.equal(nginx.clientIp('127.0.0.1', '203.0.113.9'), '203.0.113.9');
  const chain = new TrustedProxies([...LOOPBACK_PROXIES, '10.0.0.0/8']);
  assert.equal(chain.clientIp('127.0.0.1', '6.6.6.6, 203.0.113.9, 10.1.2.3'), '203.0.113.9');
  // A spoofed trusted address left of the real client is never reached.
  assert.equal(chain.clientIp('127.0.0.1', '10.9.9.9, 203.0.113.9'), '203.0.113.9');
});

test('an untrusted peer is its own address whatever its headers say; garbage stops at the last trusted hop', () => {
  assert.equal(nginx.clientIp('198.51.100.7', '1.2.3.4'), '198.51.100.7');
  assert.equal(new TrustedProxies([]).clientIp('127.0.0.1', '1.2.3.4'), '127.0.0.1');
  const chain = new TrustedProxies([...LOOPBACK_PROXIES, '10.0.0.0/8']);
  assert.equal(chain.clientIp('127.0.0.1', 'bogus, 10.1.2.3'), '10.1.2.3');
  assert.equal(nginx.clientIp('127.0.0.1', undefined), '127.0.0.1');
  assert.equal(nginx.clientIp('::ffff:127.0.0.1', '2001:db8::1'), '2001:db8::1');
});

test('forwarded proto and host count only from a trusted peer', () => {
  assert.equal(nginx.forwardedOrigin('127.0.0.1', { host: 'hubs.example.org', 'x-forwarded-proto': 'https' }), 'https://hubs.example.org');
  assert.equal(nginx.forwardedOrigin('127.0.0.1', { host: 'a.example', 'x-forwarded-host': 'b.example:8443', 'x-forwarded-proto': 'http, https' }), 'https://b.example:8443');
  assert.equal(nginx.forwardedOrigin('198.51.100.7', { host: 'evil.example', 'x-forwarded-proto': 'https' }), null);
  assert.equal(nginx.forwardedOrigin('127.0.0.1', { host: 'evil.example/path' }), null);
  assert.equal(nginx.viaHttps('127.0.0.1', { 'x-forwarded-proto': 'https' }), true);
  assert.equal(nginx.viaHttps('198.51.100.7', { 'x-forwarded-proto': 'https' }), false);
});

test('normalIp strips IPv4-mapped prefixes and brackets and refuses non-addresses', () => {
  assert.equal(normalIp('::ffff:10.0.0.1'), '10.0.0.1');
  assert.equal(normalIp('[::1]'), '::1');
  assert.equal(normalIp('localhost'), null);
});
