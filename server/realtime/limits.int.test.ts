/**
 * The server's limits over real sockets and HTTP: a socket flooding frames
 * gets rate_limited replies and is then closed (4029) while the rest of the
 * room carries on; room creation is limited per client IP (429).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RawClient, type Frame } from '../test-support/raw-client.ts';
import { createRoom, startTestServer, type TestServer } from '../test-support/test-server.ts';

let node: TestServer;
const clients: RawClient[] = [];

before(async () => {
  node = await startTestServer({ env: { SOCKET_RATE_PER_SECOND: '20', SOCKET_RATE_BURST: '40', SOCKET_RATE_CLOSE_AFTER: '100', HTTP_CREATE_RATE_PER_MINUTE: '6', HTTP_CREATE_BURST: '3' } });
});

after(async () => {
  for (const c of clients) c.close();
  await node?.stop();
});

async function join(topic: string): Promise<{ c: RawClient; jr: string }> {
  const c = await RawClient.connect(node.url);
  clients.push(c);
  const f = await c.join(topic, { profile: {}, context: {} });
  assert.equal(f[4].status, 'ok', JSON.stringify(f));
  await c.waitFor((x: Frame) => x[3] === 'presence_state');
  return { c, jr: f[0]! };
}

test('a socket flooding frames gets rate_limited replies, then is closed with 4029, while another member keeps chatting', async () => {
  // Created before the HTTP test spends this address's burst.
  const { hubSid } = await createRoom(node.url);
  const topic = `hub:${hubSid}`;
  const flooder = await join(topic);
  const calm = await join(topic);
  const other = await join(topic);
  for (let i = 0; i < 500; i++) flooder.c.push(flooder.jr, topic, 'message', { type: 'chat', body: `spam ${i}` });
  assert.equal(await flooder.c.waitClose(), 4029);
  const limited = flooder.c.frames.filter((f) => f[3] === 'phx_reply' && f[4].response?.reason === 'rate_limited');
  assert.ok(limited.length > 0 && limited.length <= 100, `${limited.length} rate_limited replies`);
  assert.match(limited[0]![4].response.message, /at most 20 a second/);
  // Only the burst (less the join's token, plus what the bucket refilled meanwhile) got through to the room.
  const relayed = other.c.frames.filter((f) => f[3] === 'message' && String(f[4].body).startsWith('spam')).length;
  assert.ok(relayed >= 39 && relayed < 120, `${relayed} spam messages relayed`);
  calm.c.push(calm.jr, topic, 'message', { type: 'chat', body: 'still here' });
  await other.c.waitFor((f) => f[3] === 'message' && f[4].body === 'still here');
  assert.equal(calm.c.closeCode, null);
});

test('creating rooms from one address past the burst gets 429 rate_limited with retry-after', async () => {
  const statuses: number[] = [];
  let last: Response | null = null;
  for (let i = 0; i < 4; i++) {
    last = await fetch(`${node.url}/api/v1/hubs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hub: { name: `r${i}` } }) });
    statuses.push(last.status);
  }
  assert.ok(statuses.includes(429), `statuses ${statuses.join(',')}`);
  assert.equal(statuses[statuses.length - 1], 429);
  assert.ok(Number(last!.headers.get('retry-after')) >= 1);
  assert.equal(((await last!.json()) as { error: { code: string } }).error.code, 'rate_limited');
});

test('behind a trusted proxy (TRUST_PROXY) a client that makes up a first X-Forwarded-For entry keeps its own bucket', async () => {
  const proxied = await startTestServer({ env: { TRUST_PROXY: 'true', HTTP_CREATE_RATE_PER_MINUTE: '6', HTTP_CREATE_BURST: '3' } });
  try {
    const create = (forwardedFor: string) =>
      fetch(`${proxied.url}/api/v1/hubs`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor }, body: JSON.stringify({ hub: { name: 'r' } }) });
    for (let i = 0; i < 3; i++) assert.equal((await create('203.0.113.5')).status, 200);
    // What the shipped nginx forwards ($proxy_add_x_forwarded_for): the client's header, then the address it saw.
    for (let i = 0; i < 3; i++) assert.equal((await create(`10.${i}.0.1, 203.0.113.5`)).status, 429, `spoof ${i}`);
    assert.equal((await create('203.0.113.6')).status, 200, 'another client has its own bucket');
  } finally {
    await proxied.stop();
  }
});
