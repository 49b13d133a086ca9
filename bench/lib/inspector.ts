/**
 * A minimal client for the V8 inspector of a server started with
 * `--inspect=127.0.0.1:0`: forces a full garbage collection and reads the
 * JS heap size, so idle-memory measurements compare retained memory rather
 * than garbage that happens not to be collected yet. Loopback only.
 */
import WebSocket from 'ws';

/** An open inspector session. */
export interface InspectorSession {
  /** Runs a full GC (HeapProfiler.collectGarbage), twice so weak references clear. */
  collectGarbage(): Promise<void>;
  /** JS heap used and total, bytes (Runtime.getHeapUsage). */
  heapUsage(): Promise<{ usedSize: number; totalSize: number }>;
  close(): void;
}

/** Finds the `ws://127.0.0.1:<port>/<uuid>` URL that node prints on stderr with --inspect. */
export function inspectorUrl(output: string): string | null {
  const m = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]+)/.exec(output);
  return m ? m[1]! : null;
}

/**
 * Connects to an inspector URL.
 * @throws when it cannot connect within 5 s
 */
export function connectInspector(url: string): Promise<InspectorSession> {
  if (!url.startsWith('ws://127.0.0.1:')) return Promise.reject(new Error(`not a loopback inspector URL: ${url}`));
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 5000 });
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  ws.on('message', (data: Buffer) => {
    const msg = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
    if (msg.id === undefined) return;
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(msg.error.message));
    else p.resolve(msg.result);
  });
  const call = (method: string, params: object = {}, timeoutMs = 60_000) =>
    new Promise<unknown>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`inspector ${method} timed out`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      ws.send(JSON.stringify({ id, method, params }));
    });
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => {
      resolve({
        async collectGarbage() {
          await call('HeapProfiler.collectGarbage');
          await call('HeapProfiler.collectGarbage');
        },
        async heapUsage() {
          return (await call('Runtime.getHeapUsage')) as { usedSize: number; totalSize: number };
        },
        close: () => ws.close(),
      });
    });
  });
}
