/**
 * The `ret` channel (Reticulum's per-session channel) and the `ret-deploy`
 * notice a node sends on shutdown so clients move to another node.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RawClient } from '../../test-support/raw-client.ts';
import { createRoom, startTestServer } from '../../test-support/test-server.ts';

test('joining ret replies with the session_id the hub join gets too; change_hub is validated', async () => {
  const srv = await startTestServer();
  const c = await RawClient.connect(srv.url);
  try {
    const hubSid = (await createRoom(srv.url)).hubSid;
    const ret = await c.join('ret', { hub_id: hubSid });
    assert.equal(ret[4].status, 'ok');
    assert.equal(ret[4].response.vapid_public_key, null);
    const hub = await c.join(`hub:${hubSid}`, { profile: {}, context: {} });
    assert.equal(ret[4].response.session_id, hub[4].response.session_id);
    const good = c.push(ret[0], 'ret', 'change_hub', { hub_id: hubSid });
    assert.equal((await c.reply(good))[4].status, 'ok');
    const bad = c.push(ret[0], 'ret', 'change_hub', { hub_id: 7 });
    assert.equal((await c.reply(bad))[4].response.reason, 'invalid_payload');
    assert.equal((await c.join('ret', 'nope'))[4].response.reason, 'invalid_payload');
  } finally {
    c.close();
    await srv.stop();
  }
});

test('on shutdown, ret members get a ret-deploy notice first; a client that stays is closed with 1001 after the grace period', async () => {
  const srv = await startTestServer({ env: { SHUTDOWN_GRACE_SECONDS: '1' } });
  const mover = await RawClient.connect(srv.url);
  const stayer = await RawClient.connect(srv.url);
  const hubSid = (await createRoom(srv.url)).hubSid;
  for (const c of [mover, stayer]) {
    await c.join('ret', { hub_id: hubSid });
    await c.join(`hub:${hubSid}`, { profile: {}, context: {} });
  }
  const stopping = srv.stop();
  const notice = await mover.waitFor((f) => f[2] === 'ret' && f[3] === 'notice');
  assert.equal(notice[4].event, 'ret-deploy');
  assert.equal(typeof notice[4].ret_version, 'string');
  assert.equal(mover.closeCode, null, 'the notice comes before any close');
  mover.close();
  await stayer.waitFor((f) => f[3] === 'notice');
  assert.equal(await stayer.waitClose(5000), 1001);
  await stopping;
});
