import { randomUUID } from 'node:crypto';
import type { Broker, FrameHandler } from './broker.ts';

/**
 * An in-process bus that several {@link MemoryBroker}s (nodes in one process,
 * e.g. in tests) can share. A broker made without a bus gets a private one,
 * which makes it a single-node broker that never delivers anything.
 */
export class MemoryBus {
  private readonly nodes = new Set<MemoryBroker>();
  /** @internal */
  attach(node: MemoryBroker): void {
    this.nodes.add(node);
  }
  /** @internal */
  detach(node: MemoryBroker): void {
    this.nodes.delete(node);
  }
  /** @internal delivers to every attached node but the sender that subscribes to `topic`. */
  deliver(from: MemoryBroker, topic: string, frame: string | Uint8Array, sender: string | undefined): void {
    for (const node of this.nodes) if (node !== from) node.receive(topic, frame, sender);
  }
}

/** The default {@link Broker}: in-process, for one node (or several sharing a {@link MemoryBus}). */
export class MemoryBroker implements Broker {
  readonly nodeId: string;
  private readonly topics = new Set<string>();
  private handler: FrameHandler = () => {};

  constructor(private readonly bus: MemoryBus = new MemoryBus(), nodeId: string = randomUUID()) {
    this.nodeId = nodeId;
    bus.attach(this);
  }

  publish(topic: string, frame: string | Uint8Array, sender?: string): void {
    this.bus.deliver(this, topic, frame, sender);
  }
  subscribe(topic: string): void {
    this.topics.add(topic);
  }
  unsubscribe(topic: string): void {
    this.topics.delete(topic);
  }
  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }
  /** @internal called by the bus */
  receive(topic: string, frame: string | Uint8Array, sender: string | undefined): void {
    if (this.topics.has(topic)) this.handler(topic, frame, sender);
  }
  /** Number of topics this node is subscribed to (for tests). */
  get subscriptionCount(): number {
    return this.topics.size;
  }
  /** Always connected: the bus is in this process. */
  status(): { connected: true; kind: 'memory'; topics: number } {
    return { connected: true, kind: 'memory', topics: this.topics.size };
  }
  async close(): Promise<void> {
    this.bus.detach(this);
    this.topics.clear();
  }
}
