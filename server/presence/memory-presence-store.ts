import { newPhxRef } from '../protocol/presence-diff.ts';
import type { PresenceDiff, PresenceEntries, PresenceMeta } from '../protocol/presence-diff.ts';
import type { NewPresenceMeta, PresenceStore } from './presence-store.ts';

/** The default {@link PresenceStore}: in-process, for one node. */
export class MemoryPresenceStore implements PresenceStore {
  private readonly topics = new Map<string, Map<string, Map<string, PresenceMeta>>>();

  async track(topic: string, key: string, meta: NewPresenceMeta): Promise<PresenceMeta> {
    const full: PresenceMeta = { ...meta, phx_ref: newPhxRef() };
    let keys = this.topics.get(topic);
    if (!keys) this.topics.set(topic, (keys = new Map()));
    let metas = keys.get(key);
    if (!metas) keys.set(key, (metas = new Map()));
    metas.set(full.phx_ref, full);
    return full;
  }

  async update(topic: string, key: string, phxRef: string, meta: NewPresenceMeta): Promise<{ old: PresenceMeta; meta: PresenceMeta } | null> {
    const metas = this.topics.get(topic)?.get(key);
    const old = metas?.get(phxRef);
    if (!metas || !old) return null;
    const full: PresenceMeta = { ...meta, phx_ref: newPhxRef() };
    metas.delete(phxRef);
    metas.set(full.phx_ref, full);
    return { old, meta: full };
  }

  async updateIfRoomBelow(topic: string, key: string, phxRef: string, meta: NewPresenceMeta, limit: number): Promise<{ old: PresenceMeta; meta: PresenceMeta } | 'full' | null> {
    const keys = this.topics.get(topic);
    if (!keys?.get(key)?.has(phxRef)) return null;
    let inRoom = 0;
    for (const [k, metas] of keys) {
      if (k === key) continue;
      for (const m of metas.values()) {
        if (m.presence === 'room') {
          inRoom++;
          break;
        }
      }
    }
    if (inRoom >= limit) return 'full';
    return this.update(topic, key, phxRef, meta);
  }

  async untrack(topic: string, key: string, phxRef: string): Promise<PresenceMeta | null> {
    const keys = this.topics.get(topic);
    const metas = keys?.get(key);
    const old = metas?.get(phxRef);
    if (!keys || !metas || !old) return null;
    metas.delete(phxRef);
    if (metas.size === 0) keys.delete(key);
    if (keys.size === 0) this.topics.delete(topic);
    return old;
  }

  async list(topic: string): Promise<PresenceEntries> {
    const out: PresenceEntries = {};
    for (const [key, metas] of this.topics.get(topic) ?? []) out[key] = { metas: [...metas.values()] };
    return out;
  }

  /** No-op: a single in-process node has no remote members to lose. */
  onRemoteLeaves(_handler: (topic: string, diff: PresenceDiff) => void): void {}

  /** Forgets every meta. */
  async close(): Promise<void> {
    this.topics.clear();
  }
}
