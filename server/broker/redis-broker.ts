import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Broker, BrokerStatus, FrameHandler } from './broker.ts';

/** Bytes of the node id header at the start of every message this broker publishes. */
export const NODE_ID_BYTES = 16;

/**
 * The envelope format, the byte after the node id. 2: each frame carries its
 * sender (format 1, before it, had no such byte and no senders). A message of
 * another format is dropped: every node of a cluster must run the same version.
 */
export const ENVELOPE_FORMAT = 2;

/** Bytes before the first frame of a message: the node id and the format byte. */
const HEADER_BYTES = NODE_ID_BYTES + 1;

/** Bytes before a frame's sender: the frame's length (4) and the sender's (2). */
const ENTRY_HEADER_BYTES = 6;

/** Longest sender, in bytes of UTF-8 (its length is 2 bytes). */
export const MAX_SENDER_BYTES = 0xffff;

/** A batch is sent at once, without waiting for the next send, when its frames reach this many bytes. */
const MAX_BATCH_BYTES = 256 * 1024;

/**
 * Publishes ARGV[1] = ARGV[2], ARGV[3] = ARGV[4], … (channel, message pairs)
 * in order: a turn's batches for several topics go to Redis as ONE command,
 * which costs the node far less CPU in ioredis than one PUBLISH per topic
 * (measured: about 120 µs against 280 µs per turn of 16 topics).
 */
const PUBLISH_MANY_LUA = "for i = 1, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end return 0";

/** Options of {@link RedisBroker}. */
export interface RedisBrokerOptions {
  /** Redis URL, `redis://[user:pass@]host:port[/db]` or `rediss://…` for TLS. */
  url: string;
  /** Prefix of Redis channel names: topic `hub:abc` is channel `<prefix>hub:abc`. Default `plexus:t:`. */
  channelPrefix?: string;
  /**
   * Use sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`, Redis ≥ 7) instead of
   * `PUBLISH`/`SUBSCRIBE`. Default false. Every node of a cluster must use the
   * same setting: sharded and classic channels do not see each other.
   */
  sharded?: boolean;
  /**
   * This node's id: 32 hex digits (16 bytes, written raw in front of every
   * published message). Default: random.
   */
  nodeId?: string;
  /** Called with connection errors (ioredis keeps reconnecting by itself). Default: ignored. */
  onError?: (err: Error) => void;
  /**
   * Least time between two sends of batched frames, in milliseconds (0: at
   * the end of every event-loop turn). Default 2. The first frame after a
   * quiet spell still leaves at the end of its turn; under load the node
   * sends at most 1000 / flushIntervalMs Redis commands a second.
   */
  flushIntervalMs?: number;
  /**
   * Longest wait for one Redis command, in ms (ioredis `commandTimeout`).
   * Default 2000. A publish past it marks Redis unresponsive (a frozen
   * server keeps its connection open): until a PING is answered again,
   * publishes are dropped and counted and {@link RedisBroker.status} says
   * not connected.
   */
  commandTimeoutMs?: number;
}

/** ioredis's message for a command past `commandTimeout`. */
export function isRedisTimeout(err: unknown): boolean {
  return err instanceof Error && err.message === 'Command timed out';
}

/** What {@link RedisBroker.status} reports, e.g. for `/health`. */
export interface RedisBrokerStatus extends BrokerStatus {
  /** True when the broker is open, both the publish and the subscribe connection are ready, and Redis answers commands in time. */
  connected: boolean;
  /** ioredis status of the publish connection (`ready`, `connecting`, `reconnecting`, `end`, …). */
  publisher: string;
  /** ioredis status of the subscribe connection. */
  subscriber: string;
  /** Topics this node is subscribed to. */
  topics: number;
  /** Whether sharded pub/sub is used. */
  sharded: boolean;
  /** Frames dropped because they were published while the publish connection was down or Redis did not answer. */
  droppedWhileDisconnected: number;
  /** True while Redis has not answered a command within `commandTimeoutMs` (connection open, server not answering). */
  unresponsive: boolean;
}

/**
 * A {@link Broker} over Redis pub/sub, for running several nodes as one
 * cluster (DESIGN.md "fan-out between nodes").
 *
 * Two connections: one publishes, one is in subscriber mode. Topic `t` is
 * Redis channel `channelPrefix + t`; each node subscribes to a channel once,
 * whatever the number of `subscribe(t)` calls, and unsubscribes on
 * `unsubscribe(t)`.
 *
 * Batching: frames published on one topic between two sends go out as ONE
 * Redis message. A send happens at the end of the event-loop turn
 * (`setImmediate`), but no sooner than `flushIntervalMs` (default 2) after
 * the previous one (then by timer), so under load a node sends at most
 * 1000 / flushIntervalMs commands a second however many frames it
 * publishes, and the first frame after a quiet spell is not held back. The
 * batches of several topics leave as one command (a Lua script that
 * publishes each in order; sharded pub/sub sends one `SPUBLISH` per topic,
 * since a script cannot publish across shards). Order per topic is kept.
 * A message is the publishing node's 16-byte id, the envelope format byte
 * ({@link ENVELOPE_FORMAT}), then one or more frames, each as the frame's
 * length (4 bytes, big-endian), its sender's length (2 bytes, big-endian;
 * 0: no sender), the sender's UTF-8 bytes and the frame's UTF-8 bytes. The
 * format is internal to a cluster: all its nodes run the same version (a
 * node of another format drops these messages, and these nodes drop its).
 * Redis delivers a node's own publishes to its own subscriber connection
 * too, and those are dropped by comparing the id. Frames from other nodes
 * reach the `onFrame` handler one by one, in order, as bytes (`Buffer`s),
 * each with its sender.
 *
 * Outages: ioredis reconnects by itself and, with `autoResubscribe` (on),
 * subscribes the subscriber connection to every current channel again.
 * Frames published while the publish connection is down are dropped and
 * counted (pub/sub is at-most-once anyway; they are not queued to be sent
 * late). Frames published by other nodes during the outage are lost.
 */
export class RedisBroker implements Broker {
  /** This node's id (32 hex digits). */
  readonly nodeId: string;
  private readonly header: Buffer;
  private readonly prefix: string;
  private readonly prefixBytes: number;
  private readonly sharded: boolean;
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly topics = new Set<string>();
  private handler: FrameHandler = () => {};
  private dropped = 0;
  private closed = false;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly onError: (err: Error) => void;
  /** Frames waiting for the next send, per topic, in publish order. */
  private batch = new Map<string, Buffer[]>();
  private batchBytes = 0;
  private flushScheduled = false;
  private readonly flushIntervalMs: number;
  /** performance.now() of the last send of batched frames. */
  private lastFlush = -Infinity;
  private readonly commandTimeoutMs: number;
  /** Set when a command timed out; cleared when a PING is answered (see {@link probe}). */
  private unresponsive = false;
  private probeTimer: NodeJS.Timeout | null = null;

  /**
   * Opens the two connections (asynchronously; commands issued before they
   * are ready are queued by ioredis, except publishes, see the class doc).
   * @throws Error when `nodeId` is not 32 hex digits, or `flushIntervalMs` is negative.
   */
  constructor(opts: RedisBrokerOptions) {
    const nodeId = opts.nodeId ?? randomBytes(NODE_ID_BYTES).toString('hex');
    if (!/^[0-9a-f]{32}$/.test(nodeId)) {
      throw new Error(`RedisBroker nodeId must be 32 lower-case hex digits (got ${JSON.stringify(nodeId)}); leave it unset for a random one.`);
    }
    this.nodeId = nodeId;
    this.header = Buffer.concat([Buffer.from(nodeId, 'hex'), Buffer.of(ENVELOPE_FORMAT)]);
    this.prefix = opts.channelPrefix ?? 'plexus:t:';
    this.prefixBytes = Buffer.byteLength(this.prefix);
    this.sharded = opts.sharded ?? false;
    this.flushIntervalMs = opts.flushIntervalMs ?? 2;
    if (!Number.isFinite(this.flushIntervalMs) || this.flushIntervalMs < 0) {
      throw new Error(`RedisBroker flushIntervalMs must be a number >= 0 (got ${opts.flushIntervalMs}).`);
    }
    const onError = opts.onError ?? (() => {});
    this.onError = onError;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 2000;
    const common = {
      lazyConnect: false,
      commandTimeout: this.commandTimeoutMs,
      maxRetriesPerRequest: null,
      // Retry quickly at first, then every second at most: an outage ends as soon as Redis is back.
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
    };
    this.pub = new Redis(opts.url, { ...common, connectionName: `plexus-pub-${nodeId}` });
    // ioredis sends EVALSHA and falls back to EVAL after NOSCRIPT (a restarted Redis).
    this.pub.defineCommand('plexusPublishMany', { numberOfKeys: 0, lua: PUBLISH_MANY_LUA });
    this.sub = new Redis(opts.url, { ...common, connectionName: `plexus-sub-${nodeId}`, autoResubscribe: true });
    this.pub.on('error', onError);
    this.sub.on('error', onError);
    this.sub.on(this.sharded ? 'smessageBuffer' : 'messageBuffer', (channel: Buffer, message: Buffer) => this.receive(channel, message));
  }

  /**
   * Publishes `frame` on `topic` to the other nodes: the bytes are copied
   * now and sent with the topic's other waiting frames at the next send (see
   * the class doc; at once when the batch reaches 256 KiB). Fire-and-forget: when the
   * publish connection is not ready, the frame is dropped and counted in
   * {@link status}. An empty `sender` is sent as none.
   * @throws RangeError when `sender` is over {@link MAX_SENDER_BYTES} bytes of UTF-8
   */
  publish(topic: string, frame: string | Uint8Array, sender?: string): void {
    if (this.closed) return;
    const senderBytes = sender ? Buffer.byteLength(sender, 'utf8') : 0;
    if (senderBytes > MAX_SENDER_BYTES) throw new RangeError(`A frame's sender is at most ${MAX_SENDER_BYTES} bytes of UTF-8 (got ${senderBytes}).`);
    if (this.pub.status !== 'ready' || this.unresponsive) {
      this.dropped++;
      return;
    }
    const body = typeof frame === 'string' ? Buffer.from(frame, 'utf8') : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    // Copied now: the caller may reuse its buffer once publish returns.
    const entry = Buffer.allocUnsafe(ENTRY_HEADER_BYTES + senderBytes + body.length);
    entry.writeUInt32BE(body.length, 0);
    entry.writeUInt16BE(senderBytes, 4);
    if (senderBytes > 0) entry.write(sender!, ENTRY_HEADER_BYTES, 'utf8');
    body.copy(entry, ENTRY_HEADER_BYTES + senderBytes);
    const list = this.batch.get(topic);
    if (list) list.push(entry);
    else this.batch.set(topic, [entry]);
    this.batchBytes += entry.length;
    if (this.batchBytes >= MAX_BATCH_BYTES) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      const wait = this.lastFlush + this.flushIntervalMs - performance.now();
      if (wait <= 0) setImmediate(() => this.flush());
      else setTimeout(() => this.flush(), wait);
    }
  }

  /** Sends every batched topic as one Redis message each. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.batch.size === 0) return;
    this.lastFlush = performance.now();
    const batch = this.batch;
    this.batch = new Map();
    this.batchBytes = 0;
    if (this.closed) return;
    if (this.pub.status !== 'ready' || this.unresponsive) {
      for (const list of batch.values()) this.dropped += list.length;
      return;
    }
    if (batch.size === 1 || this.sharded) {
      for (const [topic, list] of batch) {
        const message = Buffer.concat([this.header, ...list]);
        const channel = this.prefix + topic;
        const sent = this.sharded ? this.pub.spublish(channel, message) : this.pub.publish(channel, message);
        sent.catch((err: unknown) => {
          this.dropped += list.length;
          this.failed(err);
        });
      }
      return;
    }
    const args: Array<string | Buffer> = [];
    let frames = 0;
    for (const [topic, list] of batch) {
      args.push(this.prefix + topic, Buffer.concat([this.header, ...list]));
      frames += list.length;
    }
    (this.pub as unknown as PublishManyCommand).plexusPublishMany(...args).catch((err: unknown) => {
      this.dropped += frames;
      this.failed(err);
    });
  }

  /** A command failed: after a timeout, Redis counts as unresponsive until it answers a PING. */
  private failed(err: unknown): void {
    if (isRedisTimeout(err)) this.markUnresponsive();
  }

  private markUnresponsive(): void {
    if (this.closed || this.unresponsive) return;
    this.unresponsive = true;
    this.onError(new Error(`Redis did not answer within ${this.commandTimeoutMs} ms; broadcasts stop crossing nodes until it does`));
    this.probe();
  }

  /** PINGs Redis until it answers (each PING waits at most commandTimeoutMs), then clears {@link unresponsive}. */
  private probe(): void {
    if (this.closed || this.probeTimer) return;
    this.pub.ping().then(
      () => {
        this.unresponsive = false;
      },
      () => {
        if (this.closed) return;
        this.probeTimer = setTimeout(() => {
          this.probeTimer = null;
          this.probe();
        }, 250);
        this.probeTimer.unref();
      },
    );
  }

  /** PINGs Redis on the publish connection; false (and marked unresponsive) when it does not answer within `timeoutMs`. */
  async ping(timeoutMs: number): Promise<boolean> {
    if (this.closed || this.pub.status !== 'ready') return false;
    let timer: NodeJS.Timeout | undefined;
    const answered = await Promise.race([
      this.pub.ping().then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (answered) this.unresponsive = false;
    else this.markUnresponsive();
    return answered;
  }

  /** Subscribes this node to `topic` (channel `prefix + topic`). A second call for the same topic does nothing. */
  subscribe(topic: string): void {
    if (this.closed || this.topics.has(topic)) return;
    this.topics.add(topic);
    const channel = this.prefix + topic;
    // Errors are reported through onError; autoResubscribe retries on reconnect.
    this.track(this.sharded ? this.sub.ssubscribe(channel) : this.sub.subscribe(channel));
  }

  /** Unsubscribes this node from `topic`. Unknown topics are ignored. */
  unsubscribe(topic: string): void {
    if (this.closed || !this.topics.delete(topic)) return;
    const channel = this.prefix + topic;
    this.track(this.sharded ? this.sub.sunsubscribe(channel) : this.sub.unsubscribe(channel));
  }

  /**
   * Resolves once both connections are ready and every subscribe/unsubscribe
   * issued so far has been acknowledged by Redis (after which other nodes'
   * publishes on those topics do / do not reach this node). Resolves at once
   * on a closed broker.
   * @throws Error when the connections are not ready within `timeoutMs` (default 10 000).
   */
  async synced(timeoutMs = 10_000): Promise<void> {
    if (this.closed) return;
    const deadline = Date.now() + timeoutMs;
    for (const conn of [this.pub, this.sub]) {
      while (conn.status !== 'ready') {
        if (this.closed) return;
        if (Date.now() > deadline) throw new Error(`Redis connection not ready within ${timeoutMs} ms (status ${conn.status})`);
        await new Promise<void>((res) => {
          const t = setTimeout(res, Math.max(1, deadline - Date.now()));
          conn.once('ready', () => {
            clearTimeout(t);
            res();
          });
        });
      }
    }
    await Promise.allSettled([...this.pending]);
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch(() => undefined).finally(() => this.pending.delete(q));
    this.pending.add(q);
  }

  /** Sets the receiver of other nodes' frames: `(topic, frame bytes, sender)`. */
  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  /** Connection state for health checks (see {@link RedisBrokerStatus}). */
  status(): RedisBrokerStatus {
    return {
      connected: !this.closed && this.pub.status === 'ready' && this.sub.status === 'ready' && !this.unresponsive,
      publisher: this.pub.status,
      subscriber: this.sub.status,
      topics: this.topics.size,
      sharded: this.sharded,
      droppedWhileDisconnected: this.dropped,
      unresponsive: this.unresponsive,
    };
  }

  /** Closes both connections (QUIT, or disconnect when not connected); no frame is delivered afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.topics.clear();
    this.handler = () => {};
    await Promise.all([quit(this.pub), quit(this.sub)]);
  }

  private receive(channel: Buffer, message: Buffer): void {
    if (this.closed || message.length < HEADER_BYTES) return;
    if (message.compare(this.header, 0, NODE_ID_BYTES, 0, NODE_ID_BYTES) === 0) return;
    // Another envelope format: a node of another version (see ENVELOPE_FORMAT).
    if (message[NODE_ID_BYTES] !== ENVELOPE_FORMAT) return;
    const topic = channel.toString('utf8', this.prefixBytes);
    // A message that was in flight when unsubscribe() was called.
    if (!this.topics.has(topic)) return;
    let at = HEADER_BYTES;
    while (at + ENTRY_HEADER_BYTES <= message.length) {
      const length = message.readUInt32BE(at);
      const senderBytes = message.readUInt16BE(at + 4);
      const start = at + ENTRY_HEADER_BYTES + senderBytes;
      const end = start + length;
      if (end > message.length) return; // truncated: not from a Plexus node
      const sender = senderBytes > 0 ? message.toString('utf8', at + ENTRY_HEADER_BYTES, start) : undefined;
      this.handler(topic, message.subarray(start, end), sender);
      at = end;
    }
  }
}

/** The script command that {@link RedisBroker} defines on its publish connection. */
interface PublishManyCommand {
  plexusPublishMany(...channelMessagePairs: Array<string | Buffer>): Promise<unknown>;
}

async function quit(conn: Redis): Promise<void> {
  if (conn.status === 'ready') {
    try {
      await conn.quit();
      return;
    } catch {
      // fall through to disconnect
    }
  }
  conn.disconnect();
}
