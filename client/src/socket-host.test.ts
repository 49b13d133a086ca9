import assert from 'node:assert/strict';
import { test } from 'node:test';
import { socketUrlFromMeta } from './socket-host.ts';

const page = { protocol: 'http:', hostname: 'plexus.test', port: '4000' };

test('the meta host with its port gives the socket URL', () => {
  assert.equal(socketUrlFromMeta({ phx_host: 'node2.plexus.test', phx_port: 4001 }, page), 'ws://node2.plexus.test:4001/socket/websocket');
});

test('without a port, the page port is kept for the same host and dropped for another', () => {
  assert.equal(socketUrlFromMeta({ phx_host: 'plexus.test', phx_port: null }, page), 'ws://plexus.test:4000/socket/websocket');
  assert.equal(socketUrlFromMeta({ phx_host: 'other.test' }, page), 'ws://other.test/socket/websocket');
});

test('https pages use wss', () => {
  assert.equal(socketUrlFromMeta({ phx_host: 'a.test', phx_port: '443' }, { protocol: 'https:', hostname: 'a.test', port: '' }), 'wss://a.test:443/socket/websocket');
});

test('a missing or odd host gives null', () => {
  assert.equal(socketUrlFromMeta({}, page), null);
  assert.equal(socketUrlFromMeta({ phx_host: 'evil.test/path?x' }, page), null);
});
