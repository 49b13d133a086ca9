import type { Logger } from 'pino';
import { decodeBinary, decodeText, encodeReply, encodeText, encodeBroadcast } from '../protocol/phoenix-codec.ts';
import type { PhoenixMessage, Ref } from '../protocol/phoenix-codec.ts';
import { FALLBACK } from './channel.ts';
import type { Channel, ChannelContext, ChannelRoute, Reply, Session, TerminateReason } from './channel.ts';
import { scanFrame } from '../protocol/frame-scan.ts';
import { TokenBucket } from './rate-limit.ts';
import { CloseCodes, CloseReasons, ErrorCodes, PlexusError, type ErrorCode } from '../errors.ts';
import type { Connection } from './connection.ts';
import type { Fanout, PublishOptions } from './fanout.ts';

const utf8 = new TextDecoder();

/** True when the text frame `data` is on topic `phoenix` (a heartbeat, or a bad frame there). */
function isPhoenixTopic(data: Uint8Array): boolean {
  const scanned = scanFrame(data);
  if (scanned) return scanned.topic === 'phoenix';
  const decoded = decodeText(utf8.decode(data));
  return decoded.ok && decoded.message.topic === 'phoenix';
}

/** Options of a {@link SocketSession}. */
export interface SocketSessionOptions {
  /** Channels one socket may have joined at once (config MAX_CHANNELS_PER_SOCKET, default 8; Phoenix allows 100). */
  maxChannels: number;
  /** Frames that may wait behind a slow (async) handler before the socket is closed. */
  maxQueuedFrames: number;
  /**
   * Per-socket rate limit on incoming frames (a token bucket): `perSecond`
   * frames a second, bursts of `burst`. A frame over the limit is not
   * handled and gets an error reply `rate_limited`; after `closeAfter`
   * refused frames within 10 s the socket is closed with 4029. Heartbeats
   * are never refused. Absent: no limit.
   */
  rateLimit?: { perSecond: number; burst: number; closeAfter: number };
  /** The client's IP address as found at the upgrade (trusted proxies' `X-Forwarded-For`). Default: the connection's `remoteAddress`. */
  clientIp?: string;
}

/** Close code for a socket that keeps sending over its rate limit. */
export const CLOSE_RATE_LIMITED = CloseCodes.RATE_LIMITED;
/** Window over which refused frames are counted toward closing the socket, ms. */
const REFUSED_WINDOW_MS = 10_000;

interface JoinedChannel {
  joinRef: string;
  channel: Channel;
  ctx: ChannelContext;
}

/** Close code used when a client floods frames faster than its handlers finish. */
export const CLOSE_QUEUE_OVERFLOW = CloseCodes.QUEUE_OVERFLOW;

/** An error reply's response `{reason, message}`: `reason` is a code of the catalog (errors.ts). */
function failure(reason: ErrorCode, message: string): Record<string, unknown> {
  return { reason, message };
}

/**
 * The Phoenix socket state machine for one WebSocket connection: decodes
 * frames, answers heartbeats, joins and leaves channels, routes pushes to
 * channel instances and writes replies.
 *
 * Protocol: Phoenix Channels V2 (shared/reference/naf-phoenix-client.md §6.2,
 * §6.4): heartbeat on topic `phoenix`; `phx_join` → `phx_reply`; duplicate
 * join closes the old instance with `phx_close` carrying the old join_ref;
 * `phx_leave` → ok reply then `phx_close`; pushes to a topic that is not
 * joined get `{"reason":"unmatched topic"}`. Frames that cannot be decoded
 * get an error reply naming the problem; the socket stays open. Binary
 * frames are refused (`binary_not_supported`) from their header, without
 * reading the payload.
 *
 * Frames are handled in arrival order: while a handler's Promise is pending,
 * later frames wait in a bounded queue. The session id may be given as a
 * Promise (a session_token still being verified when the socket opened):
 * frames wait in the same queue until it settles. Frames on topic `phoenix`
 * (heartbeats) never wait: they are answered at once, so a handler stuck on
 * a slow database does not make the client think the socket is dead.
 *
 * Failures (see channel.ts): a `PlexusError` thrown by a handler becomes an
 * error reply `{reason: code, message}`; anything else thrown by a channel
 * crashes that channel: error reply `internal_error`, then
 * `[join_ref, join_ref, topic, "phx_error", {}]` (Phoenix `encode_on_exit`),
 * and the instance is terminated (`crash`) and removed.
 */
export class SocketSession implements Session {
  private readonly channels = new Map<string, JoinedChannel>();
  private queue: Array<{ data: Uint8Array; isBinary: boolean }> = [];
  private busy = false;
  private ended = false;
  private readonly bucket: TokenBucket | null;
  private refusedSince = 0;
  private refused = 0;

  private id: string;

  /**
   * @param sessionId the session id, or a Promise of it (frames wait until it
   *   resolves; if it rejects, the socket is closed with 1011)
   */
  constructor(
    sessionId: string | Promise<string>,
    readonly connection: Connection,
    private readonly routes: readonly ChannelRoute[],
    private readonly fanout: Fanout,
    private readonly log: Logger,
    private readonly options: SocketSessionOptions,
  ) {
    this.bucket = options.rateLimit ? new TokenBucket(options.rateLimit.perSecond, options.rateLimit.burst) : null;
    if (typeof sessionId === 'string') {
      this.id = sessionId;
    } else {
      this.id = '';
      this.busy = true;
      sessionId.then(
        (id) => {
          this.id = id;
          this.drain();
        },
        (err: unknown) => {
          this.log.error({ err }, 'session id could not be established; closing the socket');
          this.connection.close(CloseCodes.INTERNAL_ERROR, CloseReasons.INTERNAL_ERROR);
        },
      );
    }
  }

  /** The client's IP address (see {@link Session.clientIp}). */
  get clientIp(): string {
    return this.options.clientIp ?? this.connection.remoteAddress;
  }

  /** This socket's session id (empty only while a session_token is being verified, before any frame is handled). */
  get sessionId(): string {
    return this.id;
  }

  /** Topics this socket has joined. */
  joinedTopics(): string[] {
    return [...this.channels.keys()];
  }

  /**
   * Handles one frame from the client.
   * @param data the frame's bytes (UTF-8 for text frames); read only during
   *   this call, copied when the frame has to wait
   */
  handleFrame(data: Uint8Array, isBinary: boolean): void {
    if (this.ended) return;
    if (this.bucket && !this.bucket.take() && this.refuse(data, isBinary)) return;
    if (this.busy) {
      // Heartbeats jump the queue; the order of every other frame is kept.
      if (!isBinary && isPhoenixTopic(data)) {
        this.run(data, isBinary);
        return;
      }
      if (this.queue.length >= this.options.maxQueuedFrames) {
        this.log.warn({ sessionId: this.sessionId }, 'closing socket: too many frames queued behind a pending handler');
        this.connection.close(CLOSE_QUEUE_OVERFLOW, CloseReasons.QUEUE_OVERFLOW);
        return;
      }
      this.queue.push({ data: data.slice(), isBinary });
      return;
    }
    this.run(data, isBinary);
  }

  /**
   * A frame over the rate limit: answers it `rate_limited` (when it has a
   * ref) and counts it; closes the socket after too many. Heartbeats pass.
   * @returns false when the frame is a heartbeat and must be handled anyway
   */
  private refuse(data: Uint8Array, isBinary: boolean): boolean {
    const scanned = isBinary ? null : scanFrame(data);
    if (scanned?.topic === 'phoenix') return false;
    const now = performance.now();
    if (now - this.refusedSince > REFUSED_WINDOW_MS) {
      this.refusedSince = now;
      this.refused = 0;
    }
    this.refused++;
    const limit = this.options.rateLimit!;
    if (this.refused > limit.closeAfter) {
      this.log.warn({ sessionId: this.sessionId }, 'closing socket: it kept sending over its rate limit');
      this.connection.close(CLOSE_RATE_LIMITED, CloseReasons.RATE_LIMITED);
      return true;
    }
    if (scanned && scanned.ref !== null) {
      this.send(encodeReply(scanned.joinRef, scanned.ref, scanned.topic, 'error', failure(
        ErrorCodes.RATE_LIMITED,
        `Too many messages: at most ${limit.perSecond} a second (bursts of ${limit.burst}); this one was dropped. Slow down or the socket will be closed.`,
      )));
    }
    return true;
  }

  private run(data: Uint8Array, isBinary: boolean): void {
    let pending: void | Promise<void>;
    try {
      pending = this.dispatch(data, isBinary);
    } catch (err) {
      this.log.error({ err, sessionId: this.sessionId }, 'frame handling failed');
      return;
    }
    if (pending instanceof Promise) {
      this.busy = true;
      pending
        .catch((err) => this.log.error({ err, sessionId: this.sessionId }, 'frame handling failed'))
        .finally(() => this.drain());
    }
  }

  private drain(): void {
    this.busy = false;
    while (!this.busy && !this.ended && this.queue.length > 0) {
      const next = this.queue.shift()!;
      this.run(next.data, next.isBinary);
    }
  }

  private dispatch(data: Uint8Array, isBinary: boolean): void | Promise<void> {
    if (isBinary) return this.refuseBinary(data);
    if (this.dispatchRaw(data)) return;
    const decoded = decodeText(utf8.decode(data));
    if (!decoded.ok) {
      const e = decoded.error;
      this.send(encodeReply(e.joinRef, e.ref, e.topic ?? 'phoenix', 'error', failure(e.code, e.message)));
      return;
    }
    const msg = decoded.message;
    if (msg.topic === 'phoenix') {
      if (msg.event === 'heartbeat') {
        this.send(encodeReply(null, msg.ref, 'phoenix', 'ok', {}));
      } else {
        this.send(encodeReply(null, msg.ref, 'phoenix', 'error', failure(ErrorCodes.UNKNOWN_EVENT, `Topic "phoenix" only accepts "heartbeat", not ${JSON.stringify(msg.event)}.`)));
      }
      return;
    }
    if (msg.event === 'phx_join') return this.join(msg);
    const entry = this.channels.get(msg.topic);
    if (!entry) {
      this.send(encodeReply(msg.joinRef, msg.ref, msg.topic, 'error', failure(ErrorCodes.UNMATCHED_TOPIC, `Not joined to ${JSON.stringify(msg.topic)}; send phx_join first.`)));
      return;
    }
    if (msg.joinRef !== null && msg.joinRef !== entry.joinRef) {
      this.send(encodeReply(msg.joinRef, msg.ref, msg.topic, 'error', failure(ErrorCodes.STALE_JOIN_REF, `join_ref ${msg.joinRef} is not the current join (${entry.joinRef}) of this topic; the push was ignored.`)));
      return;
    }
    if (msg.event === 'phx_leave') return this.leave(entry, msg);
    let result: Reply | undefined | Promise<Reply | undefined>;
    try {
      result = entry.channel.handleIn(msg.event, msg.payload);
    } catch (err) {
      return this.replyCrash(entry, msg, err);
    }
    if (result instanceof Promise) {
      return result.then(
        (reply) => this.replyTo(entry, msg.ref, reply),
        (err) => this.replyCrash(entry, msg, err),
      );
    }
    this.replyTo(entry, msg.ref, result);
  }

  /**
   * Binary frames: no channel takes binary payloads, so a V2 binary push is
   * answered `binary_not_supported` from its header alone (refs and topic);
   * its payload is never read or copied. A frame whose header cannot be
   * read gets `frame_bad_binary`.
   */
  private refuseBinary(data: Uint8Array): void {
    const decoded = decodeBinary(data);
    if (!decoded.ok) {
      const e = decoded.error;
      this.send(encodeReply(e.joinRef, e.ref, e.topic ?? 'phoenix', 'error', failure(e.code, e.message)));
      return;
    }
    const { joinRef, ref, topic } = decoded.message;
    this.send(encodeReply(joinRef, ref, topic, 'error', failure(
      ErrorCodes.BINARY_NOT_SUPPORTED,
      'Binary pushes are not supported: Plexus channels take JSON text frames [join_ref, ref, topic, event, payload] (Phoenix V2). This push was not handled; send it as a text frame.',
    )));
  }

  /** The fast path: a push to a joined channel that handles raw payloads. Returns false to use the general path. */
  private dispatchRaw(bytes: Uint8Array): boolean {
    const scanned = scanFrame(bytes);
    if (!scanned || scanned.event === 'phx_join' || scanned.event === 'phx_leave') return false;
    const entry = this.channels.get(scanned.topic);
    if (!entry?.channel.handleRawIn || (scanned.joinRef !== null && scanned.joinRef !== entry.joinRef)) return false;
    let result: Reply | undefined | typeof FALLBACK;
    try {
      result = entry.channel.handleRawIn(scanned.event, bytes, scanned.payloadStart, scanned.payloadEnd);
    } catch (err) {
      void this.replyCrash(entry, { ...scanned, payload: null }, err);
      return true;
    }
    if (result === FALLBACK) return false;
    this.replyTo(entry, scanned.ref, result);
    return true;
  }

  private replyTo(entry: JoinedChannel, ref: Ref, reply: Reply | undefined): void {
    if (reply === undefined || ref === null) return;
    this.send(encodeReply(entry.joinRef, ref, entry.ctx.topic, reply.status, reply.response));
  }

  /**
   * A handler threw: a PlexusError is an error reply and the channel stays;
   * anything else crashes the channel (error reply, `phx_error`, terminate).
   * @returns a Promise when the channel is being terminated
   */
  private replyCrash(entry: JoinedChannel, msg: PhoenixMessage, err: unknown): void | Promise<void> {
    if (err instanceof PlexusError) {
      this.log.warn({ err: err.message, code: err.code, sessionId: this.sessionId, topic: msg.topic, event: msg.event }, 'channel handler failed');
      this.replyTo(entry, msg.ref, { status: 'error', response: failure(err.code, err.message) });
      return;
    }
    this.log.error({ err, sessionId: this.sessionId, topic: msg.topic, event: msg.event }, 'channel handler crashed; the channel is closed with phx_error');
    this.replyTo(entry, msg.ref, { status: 'error', response: failure(ErrorCodes.INTERNAL, 'The server failed to handle this event; it was not applied, and the channel was restarted (phx_error): rejoin. Please report it.') });
    return this.crash(entry);
  }

  /**
   * Ends a channel whose handler crashed, as Phoenix does when a channel
   * process exits: `[join_ref, join_ref, topic, "phx_error", {}]` to the
   * client (phoenix.js rejoins after it), then terminate with reason `crash`.
   * Does nothing when the instance is no longer the topic's current one.
   */
  private crash(entry: JoinedChannel): void | Promise<void> {
    if (this.channels.get(entry.ctx.topic) !== entry) return;
    this.send(encodeText(entry.joinRef, entry.joinRef, entry.ctx.topic, 'phx_error', {}));
    return this.remove(entry, 'crash');
  }

  private async join(msg: PhoenixMessage): Promise<void> {
    const joinRef = msg.joinRef ?? msg.ref;
    if (joinRef === null) {
      this.send(encodeReply(null, null, msg.topic, 'error', failure(ErrorCodes.FRAME_BAD_FIELD, 'phx_join needs a join_ref (element 0) or ref (element 1).')));
      return;
    }
    const existing = this.channels.get(msg.topic);
    if (existing) {
      // Phoenix: a second join for a joined topic closes the old channel first.
      this.send(encodeText(existing.joinRef, existing.joinRef, msg.topic, 'phx_close', {}));
      await this.remove(existing, 'duplicate_join');
    }
    if (this.channels.size >= this.options.maxChannels) {
      this.send(encodeReply(joinRef, msg.ref, msg.topic, 'error', failure(ErrorCodes.TOO_MANY_CHANNELS, `A socket may join at most ${this.options.maxChannels} channels; leave one first.`)));
      return;
    }
    const route = this.routes.find((r) => r.matches(msg.topic));
    if (!route) {
      this.send(encodeReply(joinRef, msg.ref, msg.topic, 'error', failure(ErrorCodes.UNMATCHED_TOPIC, `No channel serves topic ${JSON.stringify(msg.topic)}; rooms are "hub:<hub_sid>".`)));
      return;
    }
    const ctx = this.makeContext(msg.topic, joinRef);
    const channel = route.create(ctx);
    let reply: Reply;
    try {
      reply = await channel.join(msg.payload);
    } catch (err) {
      if (err instanceof PlexusError) {
        this.log.warn({ err: err.message, code: err.code, topic: msg.topic }, 'join failed');
        reply = { status: 'error', response: failure(err.code, err.message) };
      } else {
        this.log.error({ err, topic: msg.topic }, 'join failed');
        reply = { status: 'error', response: failure(ErrorCodes.INTERNAL, 'The server failed to handle this join; try again.') };
      }
    }
    if (reply.status !== 'ok') {
      this.send(encodeReply(joinRef, msg.ref, msg.topic, reply.status, reply.response));
      return;
    }
    const entry: JoinedChannel = { joinRef, channel, ctx };
    if (this.ended) {
      await channel.terminate('closed');
      return;
    }
    this.channels.set(msg.topic, entry);
    this.fanout.subscribe(this.connection, msg.topic);
    this.send(encodeReply(joinRef, msg.ref, msg.topic, 'ok', reply.response));
    if (channel.afterJoin) {
      try {
        await channel.afterJoin();
      } catch (err) {
        // The join was answered ok but the channel's setup (e.g. presence) did not finish: crash it, so the client rejoins.
        this.log.error({ err, topic: msg.topic }, 'afterJoin failed; the channel is closed with phx_error');
        await this.crash(entry);
      }
    }
  }

  private async leave(entry: JoinedChannel, msg: PhoenixMessage): Promise<void> {
    this.send(encodeReply(entry.joinRef, msg.ref, msg.topic, 'ok', {}));
    this.send(encodeText(entry.joinRef, entry.joinRef, msg.topic, 'phx_close', {}));
    await this.remove(entry, 'leave');
  }

  private async remove(entry: JoinedChannel, reason: TerminateReason): Promise<void> {
    if (this.channels.get(entry.ctx.topic) !== entry) return;
    this.channels.delete(entry.ctx.topic);
    this.fanout.unsubscribe(this.connection, entry.ctx.topic);
    try {
      await entry.channel.terminate(reason);
    } catch (err) {
      this.log.error({ err, topic: entry.ctx.topic }, 'terminate failed');
    }
  }

  private makeContext(topic: string, joinRef: string): ChannelContext {
    const session = this;
    const options = new ContextPublishOptions(this.connection);
    const ctx: ChannelContext = {
      topic,
      joinRef,
      session,
      push: (event, payload) => session.send(encodeText(joinRef, null, topic, event, payload)),
      broadcast: (event, payload, sender) => session.fanout.publish(topic, encodeBroadcast(topic, event, payload), options.to(sender)),
      broadcastFrom: (event, payload, sender) => session.fanout.publish(topic, encodeBroadcast(topic, event, payload), options.from(sender)),
      publishFrom: (frame, sender) => session.fanout.publish(topic, frame, options.from(sender)),
      close: () => {
        const entry = session.channels.get(topic);
        if (!entry || entry.ctx !== ctx) return;
        session.send(encodeText(joinRef, joinRef, topic, 'phx_close', {}));
        void session.remove(entry, 'server');
      },
    };
    return ctx;
  }

  private send(frame: string): void {
    this.connection.send(frame);
  }

  /**
   * Ends the session after the connection closed: terminates every channel
   * (reason `closed`). Idempotent.
   */
  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.queue = [];
    const entries = [...this.channels.values()];
    await Promise.all(entries.map((e) => this.remove(e, 'closed')));
  }
}

/**
 * The {@link PublishOptions} of one channel's broadcasts, made once and
 * reused, so publishing a frame allocates no options object (a channel tags
 * its frames with one sender, its session's id, every time).
 */
class ContextPublishOptions {
  private readonly none: PublishOptions = {};
  private readonly exceptSelf: PublishOptions;
  private tagged: PublishOptions = {};
  private taggedFrom: PublishOptions;

  constructor(private readonly connection: Connection) {
    this.exceptSelf = { except: connection };
    this.taggedFrom = this.exceptSelf;
  }

  /** To everyone, tagged with `sender` when given. */
  to(sender: string | undefined): PublishOptions {
    if (sender === undefined) return this.none;
    if (this.tagged.sender !== sender) this.tagged = { sender };
    return this.tagged;
  }

  /** To everyone but this channel's connection, tagged with `sender` when given. */
  from(sender: string | undefined): PublishOptions {
    if (sender === undefined) return this.exceptSelf;
    if (this.taggedFrom.sender !== sender) this.taggedFrom = { except: this.connection, sender };
    return this.taggedFrom;
  }
}
