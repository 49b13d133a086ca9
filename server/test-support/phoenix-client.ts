import { Socket } from 'phoenix';
import type { Channel, Push } from 'phoenix';
import WebSocket from 'ws';

/** An official phoenix.js 1.8 Socket for Node (transport: ws), fast reconnects for tests. */
export function phoenixSocket(socketUrl: string, params: Record<string, unknown> | (() => Record<string, unknown>) = {}, heartbeatIntervalMs = 30_000): Socket {
  return new Socket(socketUrl, {
    transport: WebSocket as unknown as new (endpoint: string) => object,
    params,
    heartbeatIntervalMs,
    reconnectAfterMs: () => 50,
    rejoinAfterMs: () => 50,
  } as never);
}

/** Resolves with the response of a push's `ok`, rejects on `error` or `timeout`. */
export function receiveOk<T = Record<string, unknown>>(push: Push, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no reply')), timeoutMs);
    push
      .receive('ok', (r: T) => {
        clearTimeout(t);
        resolve(r);
      })
      .receive('error', (r: unknown) => {
        clearTimeout(t);
        reject(Object.assign(new Error(`error reply: ${JSON.stringify(r)}`), { response: r }));
      })
      .receive('timeout', () => {
        clearTimeout(t);
        reject(new Error('push timeout'));
      });
  });
}

/** Resolves with the reply of a push that must fail. */
export function receiveError<T = Record<string, unknown>>(push: Push, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no reply')), timeoutMs);
    push.receive('ok', (r: unknown) => {
      clearTimeout(t);
      reject(new Error(`expected an error, got ok ${JSON.stringify(r)}`));
    });
    push.receive('error', (r: T) => {
      clearTimeout(t);
      resolve(r);
    });
  });
}

/** Waits for the next `event` on a channel. */
export function nextEvent<T = any>(channel: Channel, event: string, timeoutMs = 5000, pred: (p: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve, reject) => {
    const ref = channel.on(event, (payload: T) => {
      if (!pred(payload)) return;
      clearTimeout(t);
      channel.off(event, ref);
      resolve(payload);
    });
    const t = setTimeout(() => {
      channel.off(event, ref);
      reject(new Error(`timed out waiting for ${event}`));
    }, timeoutMs);
  });
}

/** Polls `cond` on each turn until it is true, or fails after `timeoutMs`. */
export async function waitUntil(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
