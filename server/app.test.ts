import assert from 'node:assert/strict';
import { test } from 'node:test';
import { publicAddress } from './app.ts';

test('publicAddress takes PUBLIC_URL, with the scheme default port, or else HOST and the bound port', () => {
  assert.deepEqual(publicAddress({ publicUrl: 'https://node1.example.com', host: '0.0.0.0' }, 4000), { phx_host: 'node1.example.com', phx_port: '443' });
  assert.deepEqual(publicAddress({ publicUrl: 'http://10.0.0.5:4001/', host: '0.0.0.0' }, 4000), { phx_host: '10.0.0.5', phx_port: '4001' });
  assert.deepEqual(publicAddress({ publicUrl: null, host: '127.0.0.1' }, 4312), { phx_host: '127.0.0.1', phx_port: '4312' });
  assert.deepEqual(publicAddress({ publicUrl: null, host: '::1' }, 80), { phx_host: '[::1]', phx_port: '80' });
  assert.notEqual(publicAddress({ publicUrl: null, host: '0.0.0.0' }, 80).phx_host, '0.0.0.0');
});
