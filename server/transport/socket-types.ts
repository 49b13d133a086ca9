import type { Connection } from '../realtime/connection.ts';
import type { HttpResponse } from './http-types.ts';

/** What the application does with WebSocket connections; `D` is the session data {@link SocketHandlers.authorize} returns and {@link SocketHandlers.open} gets. */
export interface SocketHandlers<D = unknown> {
  /**
   * Decides, before the upgrade, whether to accept the socket; returns the
   * session data passed to {@link open}. Throwing a PlexusError answers the
   * upgrade with its status and `{error: {code, message}}`.
   *
   * Synchronous on purpose: the upgrade completes inside uWS's upgrade
   * handler. uWebSockets 20.30 can close a socket upgraded later, from a
   * corked callback, right after its open event (code 1006, nothing sent;
   * uNetworking/uWebSockets PR #1929), and warns about every uncorked one.
   * Work that must wait (verifying a token) goes in the returned data as a
   * Promise, for the socket's handlers to wait on.
   */
  authorize(params: Record<string, string>, remoteAddress: string, headers: UpgradeHeaders): D;
  /** A socket opened with the data its {@link authorize} returned; returns the receiver of its frames and close. */
  open(connection: Connection, data: D): SocketReceiver;
}

/**
 * The protocol's rules for an upgrade, checked before
 * {@link SocketHandlers.authorize}: the transport itself speaks plain
 * WebSocket. The Phoenix rules (vsn=2.0.0, the `phoenix` subprotocol) are in
 * realtime/phoenix-upgrade.ts.
 */
export interface UpgradePolicy {
  /** A response that refuses the upgrade (written as it is), or null to go on. */
  refuse(params: Readonly<Record<string, string>>): HttpResponse | null;
  /** The subprotocol to answer among those the client offered (`Sec-WebSocket-Protocol`, trimmed), or '' for none. */
  subprotocol(offered: readonly string[]): string;
}

/** The upgrade request's headers that {@link SocketHandlers.authorize} may check (absent ones are missing). */
export interface UpgradeHeaders {
  origin?: string;
  host?: string;
  'x-forwarded-for'?: string;
  'x-forwarded-proto'?: string;
  'x-forwarded-host'?: string;
}

/** The names of {@link UpgradeHeaders}. */
export const UPGRADE_HEADERS = ['origin', 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'] as const;

/** Receives one socket's frames and its close. */
export interface SocketReceiver {
  /**
   * One frame. `data` is a view that is valid only during the call: copy it
   * to keep it. Text frames are valid UTF-8 (uWS closes sockets that send
   * anything else).
   */
  frame(data: Uint8Array, isBinary: boolean): void;
  close(code: number, reason: string): void;
}
