/**
 * Idle timeout: a socket that sends nothing for IDLE_TIMEOUT_SECONDS is
 * closed; one that heartbeats stays open (Phoenix's transport timeout).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RawClient } from '../test-support/raw-client.ts';
import { startTestServer } from '../test-support/test-server.ts';
import type { TestServer } from '../test-support/test-server.ts';

let srv: TestServer;
before(async () => {
  srv = await startTestServer({ env: { IDLE_TIMEOUT_SECONDS: '8' } });
});
after(() => srv.stop());

test('a silent socket is closed after the idle timeout while a heartbeating one stays open', async () => {
  const silent = await RawClient.connect(srv.url);
  const lively = await RawClient.connect(srv.url);
  const beat = setInterval(() => lively.push(null, 'phoenix', 'heartbeat', {}), 1000);
  try {
    const opened = Date.now();
    await silent.waitClose(20_000);
    const idleFor = Date.now() - opened;
    // uWS checks timeouts every 4 s, so the close comes between 4 and 12 s.
    assert.ok(idleFor >= 3500 && idleFor < 16_000, `closed after ${idleFor} ms`);
    assert.equal(lively.closeCode, null);
    const ref = lively.push(null, 'phoenix', 'heartbeat', {});
    assert.equal((await lively.reply(ref))[4].status, 'ok');
  } finally {
    clearInterval(beat);
    lively.close();
  }
});
