import assert from 'node:assert/strict';
import WebSocket from 'ws';

/** A decoded frame received by {@link RawClient}. */
export type Frame = [string | null, string | null, string, string, any];

/**
 * What a protocol test drives: frames received so far, pushes, waits on a
 * frame matching a predicate (never a fixed sleep). {@link RawClient} does
 * it over a real WebSocket; test-support/channel-case.ts in process.
 */
export abstract class FrameClient {
  readonly frames: Frame[] = [];
  readonly rawFrames: Array<string | Buffer> = [];
  closeCode: number | null = null;
  closeReason = '';
  private waiters: Array<() => void> = [];
  private nextRef = 1;

  /** Sends one text or binary frame to the server. */
  abstract sendRaw(data: string | Buffer): void;
  /** Closes the socket from the client. */
  abstract close(): void;

  /** Records a frame from the server (text frames are parsed) and wakes the waiters. */
  protected received(raw: string | Buffer, isBinary: boolean): void {
    this.rawFrames.push(raw);
    if (!isBinary) this.frames.push(JSON.parse(raw as string));
    this.notify();
  }

  /** Records the socket's close and wakes the waiters. */
  protected closedWith(code: number, reason: string): void {
    this.closeCode = code;
    this.closeReason = reason;
    this.notify();
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** A fresh ref string. */
  ref(): string {
    return String(this.nextRef++);
  }

  /** Sends `[joinRef, ref, topic, event, payload]`; returns the ref. */
  push(joinRef: string | null, topic: string, event: string, payload: unknown, ref = this.ref()): string {
    this.sendRaw(JSON.stringify([joinRef, ref, topic, event, payload]));
    return ref;
  }

  /** Waits for a frame matching `pred` (looking at frames received so far too, from index `from`). */
  async waitFor(pred: (f: Frame) => boolean, timeoutMs = 5000, from = 0): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.slice(from).find(pred);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for a frame; got ${JSON.stringify(this.frames.slice(-5))}`);
      await this.next(deadline - Date.now());
    }
  }

  /** Waits for the reply to `ref`. */
  reply(ref: string, timeoutMs = 5000): Promise<Frame> {
    return this.waitFor((f) => f[1] === ref && f[3] === 'phx_reply', timeoutMs);
  }

  /** Joins `topic` with `params`; returns the join reply frame. */
  async join(topic: string, params: unknown): Promise<Frame> {
    const ref = this.ref();
    this.push(ref, topic, 'phx_join', params, ref);
    return this.reply(ref);
  }

  /** Waits until the socket is closed; returns the close code. */
  async waitClose(timeoutMs = 5000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.closeCode === null) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the socket to close');
      await this.next(deadline - Date.now());
    }
    return this.closeCode;
  }

  private next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, Math.max(1, ms));
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

/** A bare WebSocket client for protocol tests: sends raw text/binary frames over a real socket. */
export class RawClient extends FrameClient {
  private constructor(readonly ws: WebSocket) {
    super();
    ws.on('message', (data, isBinary) => this.received(isBinary ? (data as Buffer) : data.toString(), isBinary));
    ws.on('close', (code, reason) => this.closedWith(code, reason.toString()));
  }

  /**
   * Connects to `ws://.../socket/websocket?vsn=2.0.0` (plus `query`).
   * @param headers extra upgrade headers (e.g. `origin`, `x-forwarded-for`); a refused upgrade rejects with its status
   */
  static async connect(baseUrl: string, query = '', headers: Record<string, string> = {}): Promise<RawClient> {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/socket/websocket?vsn=2.0.0${query}`, { headers });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new RawClient(ws);
  }

  /** Sends a raw text or binary frame. */
  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  close(): void {
    this.ws.close();
  }
}

/** Opens client sockets to a node: a test harness in process (channel-case.ts); a URL stands for real sockets. */
export interface Connector<C extends FrameClient> {
  /** Opens a socket with the extra `query` (starting with `&`) and upgrade `headers`. */
  connect(query?: string, headers?: Record<string, string>): Promise<C>;
}

/**
 * Presence (key → phx_refs) as a Phoenix client sees it after the frames so
 * far: each `presence_state` replaces the view, each `presence_diff` applies.
 */
export function presenceView(frames: Frame[]): Map<string, string[]> {
  const view = new Map<string, string[]>();
  for (const f of frames) {
    if (f[3] === 'presence_state') {
      view.clear();
      for (const [k, v] of Object.entries(f[4] as Record<string, { metas: Array<{ phx_ref: string }> }>)) view.set(k, v.metas.map((m) => m.phx_ref));
    } else if (f[3] === 'presence_diff') {
      for (const [k, v] of Object.entries(f[4].leaves as Record<string, { metas: Array<{ phx_ref: string }> }>)) {
        const gone = new Set(v.metas.map((m) => m.phx_ref));
        const left = (view.get(k) ?? []).filter((r) => !gone.has(r));
        if (left.length) view.set(k, left);
        else view.delete(k);
      }
      for (const [k, v] of Object.entries(f[4].joins as Record<string, { metas: Array<{ phx_ref: string }> }>)) view.set(k, [...(view.get(k) ?? []), ...v.metas.map((m) => m.phx_ref)]);
    }
  }
  return view;
}

/** A client joined to a room (`joinRoom`). */
export interface RoomMember<C extends FrameClient = RawClient> {
  c: C;
  /** The join_ref of the room channel. */
  jr: string;
  sessionId: string;
  sessionToken: string;
}

/**
 * Connects to `target` (a base URL: a real socket; or an in-process
 * {@link Connector}), joins `topic` with `{profile, context, ...params}`,
 * asserts the join succeeded and waits for `presence_state`.
 * @param opts.query socket query (must start with `&`); opts.track collects the client for closing
 * @throws AssertionError when the join is refused
 */
export async function joinRoom<C extends FrameClient = RawClient>(
  target: string | Connector<C>,
  topic: string,
  params: Record<string, unknown> = {},
  opts: { query?: string; track?: C[] } = {},
): Promise<RoomMember<C>> {
  const c = (typeof target === 'string' ? await RawClient.connect(target, opts.query ?? '') : await target.connect(opts.query ?? '')) as C;
  opts.track?.push(c);
  const f = await c.join(topic, { profile: { displayName: 'x' }, context: {}, ...params });
  if (f[4]?.status !== 'ok') throw new assert.AssertionError({ message: `join of ${topic} refused: ${JSON.stringify(f)}` });
  await c.waitFor((x: Frame) => x[3] === 'presence_state');
  return { c, jr: f[0]!, sessionId: f[4].response.session_id, sessionToken: f[4].response.session_token };
}

/**
 * Sends a chat message (a random body) from `m` on `topic` and waits until
 * `to` gets it: by then every frame `m` sent before it has been handled.
 * @throws Error when `to` does not get it within 5 s
 */
export async function chatMarker(m: { c: FrameClient; jr: string }, to: { c: FrameClient }, topic: string): Promise<void> {
  const body = `marker ${Math.random()}`;
  const from = to.c.frames.length;
  m.c.push(m.jr, topic, 'message', { type: 'chat', body });
  await to.c.waitFor((f) => f[3] === 'message' && f[4].body === body, 5000, from);
}

/** Pushes `event` on the member's room channel and waits for its reply. */
export function callIn(m: { c: FrameClient; jr: string }, topic: string, event: string, payload: unknown, timeoutMs = 5000): Promise<Frame> {
  return m.c.reply(m.c.push(m.jr, topic, event, payload), timeoutMs);
}
