/**
 * The node directory: which nodes of a cluster are alive, where clients
 * reach them and how loaded they are. Implementations: {@link
 * LocalNodeDirectory} (one node, no Redis) and {@link RedisNodeDirectory};
 * both pass the contract in directory-contract.ts.
 */

/**
 * A node as the directory lists it: where clients reach it (Reticulum's
 * `/api/v1/meta` fields `phx_host`, `phx_port`) and how loaded it is.
 */
export interface NodeInfo {
  /** Node id (the one id a node hands to each of its Redis parts: 32 hex digits). */
  id: string;
  /** Host name or IP address clients connect to, e.g. `node1.example.com`. */
  phx_host: string;
  /** Port clients connect to, as a decimal string (Reticulum sends a string), e.g. `"443"`. */
  phx_port: string;
  /** Open WebSocket connections at the last heartbeat. */
  connections: number;
  /** True once the node has begun shutting down: it must not be handed to clients. */
  draining: boolean;
}

/** What a node reports about itself at each heartbeat. */
export type SelfReport = () => Omit<NodeInfo, 'id'>;

/**
 * The set of live nodes of a cluster. Each node registers itself and
 * refreshes its entry by heartbeat; an entry that is not refreshed expires.
 */
export interface NodeDirectory {
  /** This node's id. */
  readonly nodeId: string;
  /** Starts registering this node (immediately, then every heartbeat) with what `report` returns. */
  start(report: SelfReport): void;
  /** Re-registers now (e.g. right after this node starts draining). Never throws. */
  refresh(): Promise<void>;
  /**
   * Every live node, this one included when it has started. Never throws: when
   * the directory cannot be read, resolves with this node alone.
   */
  nodes(): Promise<NodeInfo[]>;
  /** Stops the heartbeat and removes this node's entry. */
  close(): Promise<void>;
}
