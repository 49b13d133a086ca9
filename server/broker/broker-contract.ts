/**
 * The contract every {@link Broker} implementation passes (DESIGN.md: "every
 * implementation passes one shared contract suite"). Used by
 * memory-broker.test.ts and redis-broker.int.test.ts.
 *
 * No sleeps: a test that something does NOT arrive publishes a sentinel
 * afterwards on the same topic from the same node and waits for it (delivery
 * from one publisher on one topic is ordered), then checks what came before it.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Broker } from './broker.ts';

/** Brokers acting as the nodes of one cluster, made by a {@link BrokerClusterFactory}. */
export interface BrokerCluster {
  /** One broker per node. */
  nodes: Broker[];
  /**
   * Resolves once every subscribe/unsubscribe issued so far on every node is
   * in effect (a no-op for synchronous brokers).
   */
  settle(): Promise<void>;
  /** Closes whatever the nodes did not (called after each test; `close()` on a node may already have run). */
  dispose(): Promise<void>;
}

/** Makes a fresh cluster of `n` nodes that share nothing with earlier clusters. */
export type BrokerClusterFactory = (n: number) => Promise<BrokerCluster>;

/** One received frame, decoded to text for comparison. */
interface Received {
  topic: string;
  bytes: Buffer;
  sender: string | undefined;
}

/** Collects every frame a node receives and lets a test wait for a given one. */
class Inbox {
  readonly frames: Received[] = [];
  private waiters: Array<() => void> = [];
  constructor(broker: Broker) {
    broker.onFrame((topic, frame, sender) => {
      this.frames.push({ topic, bytes: typeof frame === 'string' ? Buffer.from(frame, 'utf8') : Buffer.from(frame), sender });
      for (const w of this.waiters) w();
    });
  }
  /** Texts received on `topic`, in order. */
  texts(topic: string): string[] {
    return this.frames.filter((f) => f.topic === topic).map((f) => f.bytes.toString('utf8'));
  }
  /** Waits until `pred` holds, failing after `timeoutMs`. */
  async until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    if (pred()) return;
    await new Promise<void>((res, rej) => {
      const check = () => {
        if (pred()) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((w) => w !== check);
          res();
        }
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        rej(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received ${JSON.stringify(this.frames.map((f) => [f.topic, f.bytes.toString('utf8')]))}`));
      }, timeoutMs);
      this.waiters.push(check);
    });
  }
  /** Waits for `text` on `topic`. */
  waitFor(topic: string, text: string, timeoutMs = 5000): Promise<void> {
    return this.until(() => this.texts(topic).includes(text), `${JSON.stringify(text)} on ${topic}`, timeoutMs);
  }
}

/**
 * Registers the broker contract tests (node:test) under `describe(name)`.
 * @param name e.g. `'MemoryBroker'`
 * @param factory makes a fresh cluster per test
 */
export function brokerContract(name: string, factory: BrokerClusterFactory): void {
  describe(`${name} contract`, () => {
    const clusters: BrokerCluster[] = [];
    const make = async (n: number) => {
      const c = await factory(n);
      clusters.push(c);
      return c;
    };
    after(async () => {
      for (const c of clusters) await c.dispose();
    });

    deliveryTests(make);
    subscriptionTests(make);
    orderAndCloseTests(make);
  });
}

/** Makes a cluster of `n` nodes that is disposed of after the suite. */
type MakeCluster = (n: number) => Promise<BrokerCluster>;

/** Registers the contract tests of delivery: to every other subscribed node, byte-identical, with the sender. */
function deliveryTests(make: MakeCluster): void {
  test('a frame published on one node reaches every other subscribed node exactly once, byte-identical, and never its publisher', async () => {
    const c = await make(3);
    const [a, b, cc] = c.nodes as [Broker, Broker, Broker];
    const [ia, ib, ic] = [new Inbox(a), new Inbox(b), new Inbox(cc)];
    for (const n of [a, b, cc]) n.subscribe('hub:one');
    await c.settle();
    const text = '[null,null,"hub:one","naf",{"x":"é ☃ 𝄞"}]';
    a.publish('hub:one', text);
    a.publish('hub:one', Buffer.from('bytes-frame', 'utf8'));
    a.publish('hub:one', 'sentinel');
    await ib.waitFor('hub:one', 'sentinel');
    await ic.waitFor('hub:one', 'sentinel');
    for (const inbox of [ib, ic]) {
      assert.deepEqual(inbox.texts('hub:one'), [text, 'bytes-frame', 'sentinel']);
      assert.ok(inbox.frames[0]!.bytes.equals(Buffer.from(text, 'utf8')), 'bytes differ');
    }
    // Nothing reaches the publisher: B publishes a sentinel that A must see, with nothing before it.
    b.publish('hub:one', 'from-b');
    await ia.waitFor('hub:one', 'from-b');
    assert.deepEqual(ia.texts('hub:one'), ['from-b']);
  });

  test('a frame reaches the other nodes with the sender it was published with, and one published without a sender arrives without', async () => {
    const c = await make(2);
    const [a, b] = c.nodes as [Broker, Broker];
    const ib = new Inbox(b);
    b.subscribe('hub:senders');
    await c.settle();
    a.publish('hub:senders', '["tagged"]', 'session-é-1');
    a.publish('hub:senders', Buffer.from('["tagged bytes"]', 'utf8'), 'a0b1c2d3-0000-4000-8000-000000000000');
    a.publish('hub:senders', '["untagged"]');
    a.publish('hub:senders', 'sentinel');
    await ib.waitFor('hub:senders', 'sentinel');
    assert.deepEqual(
      ib.frames.map((f) => [f.bytes.toString('utf8'), f.sender]),
      [
        ['["tagged"]', 'session-é-1'],
        ['["tagged bytes"]', 'a0b1c2d3-0000-4000-8000-000000000000'],
        ['["untagged"]', undefined],
        ['sentinel', undefined],
      ],
    );
  });
}

/** Registers the contract tests of subscriptions: unsubscribed nodes, double subscribes, independent topics. */
function subscriptionTests(make: MakeCluster): void {
  test('a node that is not subscribed, or has unsubscribed, receives nothing', async () => {
    const c = await make(3);
    const [a, b, cc] = c.nodes as [Broker, Broker, Broker];
    const [ib, ic] = [new Inbox(b), new Inbox(cc)];
    b.subscribe('hub:x');
    cc.subscribe('hub:x');
    await c.settle();
    a.publish('hub:x', 'first');
    await ic.waitFor('hub:x', 'first');
    await ib.waitFor('hub:x', 'first');
    cc.unsubscribe('hub:x');
    await c.settle();
    a.publish('hub:x', 'second');
    await ib.waitFor('hub:x', 'second');
    // C is subscribed to another topic; a sentinel there from A shows whether 'second' leaked.
    cc.subscribe('hub:probe');
    await c.settle();
    a.publish('hub:probe', 'probe');
    await ic.waitFor('hub:probe', 'probe');
    assert.deepEqual(ic.texts('hub:x'), ['first']);
    // A never subscribed to anything: B's publish on hub:x must not reach it.
    const ia = new Inbox(a);
    a.subscribe('hub:probe-a');
    await c.settle();
    b.publish('hub:x', 'to-nobody-on-a');
    b.publish('hub:probe-a', 'probe-a');
    await ia.waitFor('hub:probe-a', 'probe-a');
    assert.deepEqual(ia.texts('hub:x'), []);
  });

  test('subscribing twice to a topic still delivers each frame once', async () => {
    const c = await make(2);
    const [a, b] = c.nodes as [Broker, Broker];
    const ib = new Inbox(b);
    b.subscribe('hub:twice');
    b.subscribe('hub:twice');
    await c.settle();
    a.publish('hub:twice', 'one');
    a.publish('hub:twice', 'end');
    await ib.waitFor('hub:twice', 'end');
    assert.deepEqual(ib.texts('hub:twice'), ['one', 'end']);
  });

  test('topics are independent', async () => {
    const c = await make(2);
    const [a, b] = c.nodes as [Broker, Broker];
    const ib = new Inbox(b);
    b.subscribe('hub:red');
    b.subscribe('hub:blue');
    await c.settle();
    a.publish('hub:red', 'r1');
    a.publish('hub:blue', 'b1');
    a.publish('hub:green', 'g1');
    a.publish('hub:red', 'r2');
    a.publish('hub:blue', 'b2');
    await ib.waitFor('hub:red', 'r2');
    await ib.waitFor('hub:blue', 'b2');
    assert.deepEqual(ib.texts('hub:red'), ['r1', 'r2']);
    assert.deepEqual(ib.texts('hub:blue'), ['b1', 'b2']);
    assert.deepEqual(ib.texts('hub:green'), []);
    b.unsubscribe('hub:red');
    await c.settle();
    a.publish('hub:red', 'r3');
    a.publish('hub:blue', 'b3');
    // One publisher, one receiving node: b3 (published after r3) arriving means r3 was dropped, not late.
    await ib.waitFor('hub:blue', 'b3');
    assert.deepEqual(ib.texts('hub:red'), ['r1', 'r2']);
  });
}

/** Registers the contract tests of ordering per publisher and topic, and of close(). */
function orderAndCloseTests(make: MakeCluster): void {
  test('frames from one publisher on one topic arrive in the order they were published', async () => {
    const c = await make(2);
    const [a, b] = c.nodes as [Broker, Broker];
    const ib = new Inbox(b);
    b.subscribe('hub:order');
    await c.settle();
    const sent: string[] = [];
    for (let i = 0; i < 500; i++) {
      const f = `[null,null,"hub:order","nafr",{"i":${i}}]`;
      sent.push(f);
      a.publish('hub:order', i % 2 ? Buffer.from(f, 'utf8') : f);
    }
    await ib.until(() => ib.texts('hub:order').length >= 500, '500 frames');
    assert.deepEqual(ib.texts('hub:order'), sent);
  });

  test('after close() a node receives nothing and the others keep working', async () => {
    const c = await make(3);
    const [a, b, cc] = c.nodes as [Broker, Broker, Broker];
    const [ib, ic] = [new Inbox(b), new Inbox(cc)];
    b.subscribe('hub:close');
    cc.subscribe('hub:close');
    await c.settle();
    await b.close();
    a.publish('hub:close', 'after-close');
    a.publish('hub:close', 'sentinel');
    await ic.waitFor('hub:close', 'sentinel');
    assert.deepEqual(ic.texts('hub:close'), ['after-close', 'sentinel']);
    assert.deepEqual(ib.texts('hub:close'), []);
  });
}
