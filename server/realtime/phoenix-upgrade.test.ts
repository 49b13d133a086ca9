import assert from 'node:assert/strict';
import { test } from 'node:test';
import { phoenixUpgradePolicy } from './phoenix-upgrade.ts';

const policy = phoenixUpgradePolicy('/socket/websocket');

test('an upgrade with vsn=2.0.0 goes on; any other vsn gets a 400 naming the URL to use', () => {
  assert.equal(policy.refuse({ vsn: '2.0.0' }), null);
  for (const params of [{}, { vsn: '1.0.0' }] as Array<Record<string, string>>) {
    const refusal = policy.refuse(params);
    assert.equal(refusal?.status, 400);
    assert.match(String(refusal?.body), /\/socket\/websocket\?vsn=2\.0\.0/);
  }
});

test("phoenix.js's subprotocol offer (phoenix plus a bearer token) is answered phoenix, and no offer gets none", () => {
  assert.equal(policy.subprotocol(['phoenix', 'base64url.bearer.phx.abc']), 'phoenix');
  assert.equal(policy.subprotocol([]), '');
  assert.equal(policy.subprotocol(['base64url.bearer.phx.abc']), '');
});
