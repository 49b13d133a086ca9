/**
 * Secrets every node of a cluster must share (the session-token secret: a
 * client that moves to another node keeps its session_id only if that node
 * accepts its token). Implementations: {@link LocalSharedSecrets} (one node:
 * its own secret, from the configuration or its data dir) and
 * RedisSharedSecrets (the first node to propose one wins, through Redis).
 */
export interface SharedSecrets {
  /**
   * Agrees with the other nodes on the secret called `name` (1-40 of a-z,
   * 0-9, -): resolves with `candidate` when no node has proposed one yet,
   * else with the one proposed first.
   * @throws when the shared store does not answer in time; the caller then keeps its own
   */
  agree(name: string, candidate: string): Promise<string>;
  /** Releases the store (a Redis connection). */
  close(): Promise<void>;
}

/** Checks a secret's name; the store keys it by name. */
export function checkSecretName(name: string): void {
  if (!/^[a-z0-9-]{1,40}$/.test(name)) throw new RangeError(`secret name ${JSON.stringify(name)}: use 1-40 of a-z, 0-9, -`);
}

/** The secrets of a single node: it agrees with itself, so each candidate is the secret. */
export class LocalSharedSecrets implements SharedSecrets {
  async agree(name: string, candidate: string): Promise<string> {
    checkSecretName(name);
    return candidate;
  }
  async close(): Promise<void> {}
}
