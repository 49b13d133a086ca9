import type { UpgradePolicy } from '../transport/socket-types.ts';

/**
 * The Phoenix Channels V2 rules for a WebSocket upgrade (the transport
 * itself is plain WebSocket):
 * - the URL must carry `vsn=2.0.0`; otherwise HTTP 400, text/plain, naming
 *   the URL to use (no catalog code: it is not a JSON error);
 * - phoenix.js 1.8's `authToken` option offers the subprotocols
 *   `phoenix, base64url.bearer.phx.<token>`: answer `phoenix` (a browser
 *   refuses an upgrade that answers none of the offered ones).
 * @param socketPath the socket's URL path, for the refusal's message
 */
export function phoenixUpgradePolicy(socketPath: string): UpgradePolicy {
  return {
    refuse: (params) =>
      params.vsn === '2.0.0'
        ? null
        : { status: 400, headers: { 'content-type': 'text/plain' }, body: `Plexus speaks Phoenix Channels V2 only: connect to ${socketPath}?vsn=2.0.0` },
    subprotocol: (offered) => (offered.includes('phoenix') ? 'phoenix' : ''),
  };
}
