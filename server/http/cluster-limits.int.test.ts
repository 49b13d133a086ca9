/**
 * Limits and origins across the nodes of a cluster (two nodes sharing Redis
 * and PostgreSQL): the per-IP room-creation limit and the sign-in mail limit
 * hold for the cluster, not per node; X-Forwarded-For with a client-chosen
 * first entry gets no new bucket; a page served by one node may open its
 * socket on another, even after its own node is gone.
 *
 * Each run uses client IPs and addresses of its own, so runs sharing
 * TEST_REDIS_URL never see each other's counts.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { after, before, test } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { startClusterServices, type ClusterServices } from '../test-support/cluster-services.ts';
import { RawClient } from '../test-support/raw-client.ts';
import { startTestServer, type TestServer } from '../test-support/test-server.ts';

let services: ClusterServices;
let smtp: SMTPServer;
const mails: string[] = [];
let node1: TestServer;
let node2: TestServer;
const clients: RawClient[] = [];

const randomIp = () => `198.18.${randomInt(256)}.${randomInt(1, 255)}`;

before(async () => {
  services = await startClusterServices();
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        mails.push(session.envelope.rcptTo.map((r) => r.address).join(','));
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()));
  const smtpPort = (smtp.server.address() as { port: number }).port;
  const env = {
    REDIS_URL: services.redisUrl,
    // The test's requests come from loopback, as through the shipped nginx, and name their client in X-Forwarded-For.
    TRUST_PROXY: 'true',
    HTTP_CREATE_BURST: '3',
    HTTP_CREATE_RATE_PER_MINUTE: '1',
    SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    AUTH_ALLOWED_ORIGINS: 'http://rooms.example',
    AUTH_MAIL_PER_ADDRESS_PER_HOUR: '2',
  };
  node1 = await startTestServer({ databaseUrl: services.databaseUrl, env });
  node2 = await startTestServer({ databaseUrl: services.databaseUrl, env });
});

after(async () => {
  for (const c of clients) c.close();
  await node1?.stop();
  await node2?.stop();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
  await services?.stop();
});

function create(node: TestServer, forwardedFor: string): Promise<Response> {
  return fetch(`${node.url}/api/v1/hubs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
    body: JSON.stringify({ hub: { name: 'Limited' } }),
  });
}

test('two nodes together allow one client IP the room-creation limit, not twice it; a spoofed first X-Forwarded-For entry gets no new bucket', async () => {
  const client = randomIp();
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await create(i % 2 === 0 ? node1 : node2, client)).status);
  assert.deepEqual(statuses, [200, 200, 200, 429]);
  // nginx appends the peer it saw to whatever the client sent: the client's own first entry must not count.
  const spoofed = await create(node2, `${randomIp()}, ${client}`);
  assert.equal(spoofed.status, 429);
  assert.ok(Number(spoofed.headers.get('retry-after')) >= 1);
  assert.equal(((await spoofed.json()) as { error: { code: string } }).error.code, 'rate_limited');
  // Another client still has its own budget.
  assert.equal((await create(node1, randomIp())).status, 200);
});

test('sign-in mails for one address are limited over the cluster', async () => {
  const email = `flood-${randomBytes(4).toString('hex')}@example.org`;
  const reasons: string[] = [];
  for (let i = 0; i < 4; i++) {
    // Each from a client of its own, so only the per-address limit is at work.
    const c = await RawClient.connect((i % 2 === 0 ? node1 : node2).url, '', { 'x-forwarded-for': randomIp() });
    clients.push(c);
    const topic = `auth:${randomBytes(6).toString('hex')}`;
    const j = await c.join(topic, {});
    const r = (await c.reply(c.push(j[0], topic, 'auth_request', { email, origin: 'http://rooms.example' })))[4];
    reasons.push(r.status === 'ok' ? 'ok' : String(r.response.reason));
  }
  assert.deepEqual(reasons, ['ok', 'ok', 'rate_limited', 'rate_limited']);
  // A sent mail is delivered before its reply.
  assert.equal(mails.filter((to) => to === email).length, 2);
});

test("a page served by node 1 may open its socket on node 2, also once node 1 is gone; other origins may not", async () => {
  const origin = node1.url;
  const deadline = Date.now() + 20_000;
  // Node 2 learns node 1's address from the node directory (2 s heartbeat): retry until it has.
  for (;;) {
    try {
      clients.push(await RawClient.connect(node2.url, '', { origin }));
      break;
    } catch (err) {
      if (!/403/.test(String(err)) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await node1.stop();
  clients.push(await RawClient.connect(node2.url, '', { origin }));
  await assert.rejects(RawClient.connect(node2.url, '', { origin: 'http://127.0.0.1:1' }), /403/);
});
