/**
 * Result shapes of a bench run (written as JSON) and their rendering: the
 * stdout table, the markdown summary, and the README block between
 * `<!-- bench:start -->` and `<!-- bench:end -->`.
 */
import type { LatencySummary } from './histogram.ts';
import type { ServerKind } from './ipc.ts';
import type { BenchOptions } from './options.ts';
import { SERVER_LABELS } from './servers.ts';

/** One measured load step. */
export interface StepResult {
  level: number;
  rooms: number;
  hz: number;
  activeClients: number;
  /** Messages per second the schedule offered (all clients × Hz). */
  offeredPerSec: number;
  /** Messages actually sent per second in the window. */
  sentPerSec: number;
  /** Deliveries per second the sent messages should produce. */
  expectedPerSec: number;
  /** Deliveries received per second in the window. */
  deliveredPerSec: number;
  deliveredRatio: number;
  latency: LatencySummary;
  serverCpuSec: number;
  /** Server CPU as a percentage of one core over the window (for a cluster: summed over its nodes), and its system (kernel) part. */
  serverCpuPct: number;
  serverSysPct: number;
  /** Server CPU per delivered message, µs. */
  serverUsPerDelivery: number;
  serverPeakRssMB: number;
  /** All workers' CPU as a percentage of one core over the window, and its system part. */
  clientCpuPct: number;
  clientSysPct: number;
  /** Largest gap between send ticks of any worker, ms (client event-loop lag). */
  clientMaxTickGapMs: number;
  /** Bytes queued in the clients for sending at the end of the window (the server was not reading fast enough). */
  sendBacklogKB: number;
  /** CPU used by processes outside the bench during the window, % of one core. */
  otherCpuPct: number;
  disconnects: number;
  closeCodes: Record<string, number>;
  pass: boolean;
  reasons: string[];
  /** Cluster only: CPU of each node, of Redis and of PostgreSQL (all its processes), % of one core over the window. */
  nodeCpuPct?: number[];
  redisCpuPct?: number;
  dbCpuPct?: number;
}

export interface SearchResult {
  searchBy: 'rooms' | 'rate';
  steps: StepResult[];
  /** Steps measured again because other processes disturbed them. */
  discarded?: StepResult[];
  best: StepResult | null;
  /** Join latency of the clients opened during the search (bursts, not rate-limited). */
  setupJoin: LatencySummary;
  error?: string;
}

export interface JoinResult {
  rate: number;
  attempted: number;
  ok: number;
  failed: number;
  errors: string[];
  connect: LatencySummary;
  join: LatencySummary;
  serverCpuSec: number;
  /** Cluster only: CPU seconds of Redis over the joins. */
  redisCpuSec?: number;
  elapsedSec: number;
  error?: string;
}

export interface IdleResult {
  clients: number;
  ok: number;
  failed: number;
  baselineRssMB: number;
  loadedRssMB: number;
  peakRssMB: number;
  /** RSS with the first half of the clients joined. */
  halfRssMB: number;
  /** Marginal RSS per client: (RSS with all − RSS with half) / second-half clients; each read after forced full GCs. */
  kbPerClient: number;
  /** (RSS with all − RSS of the empty server) / clients. */
  kbPerClientOverBaseline: number;
  baselineHeapMB: number;
  loadedHeapMB: number;
  /** The same two for the V8 JS heap used. */
  heapKbPerClient: number;
  heapKbPerClientOverBaseline: number;
  connectSec: number;
  errors: string[];
  error?: string;
}

export interface ServerResult {
  kind: ServerKind;
  label: string;
  search?: SearchResult;
  joins?: JoinResult;
  idle?: IdleResult;
  blocks?: BlocksResult;
}

/** Room 0's own figures in one phase of the blocks scenario (the room that gets the blocks in B). */
export interface BlocksRoom0 {
  /** Messages room 0's clients sent per second in the window. */
  sentPerSec: number;
  /** Deliveries per second received by room 0's clients. */
  deliveredPerSec: number;
  /** Received / (sent × (room members − 1)): the share of the deliveries room 0 would get without blocks. */
  deliveredRatio: number;
  /** Send → receipt latency inside room 0, ms. */
  latency: LatencySummary;
}

/**
 * One phase of the blocks scenario. The top-level figures are the other
 * rooms' (room 0's sends and receipts left out); server CPU is the whole
 * server's (for a cluster, summed over its nodes).
 */
export interface BlocksPhase {
  /** Messages the other rooms' clients sent per second in the window. */
  sentPerSec: number;
  /** Deliveries per second received in the other rooms, and received / (sent × (room members − 1)). */
  deliveredPerSec: number;
  deliveredRatio: number;
  /** Send → receipt latency in the other rooms, ms. */
  latency: LatencySummary;
  /** Server CPU over the window, % of one core, and its system (kernel) part. */
  serverCpuPct: number;
  serverSysPct: number;
  /** Server CPU per delivery, µs: server CPU / (other rooms' + room 0's deliveries). */
  serverUsPerDelivery: number;
  /** Load workers' CPU, % of one core. */
  clientCpuPct: number;
  /** CPU used outside the bench during the window, % of one core (a phase above 25% is measured again). */
  otherCpuPct: number;
  /** Cluster only: Redis CPU, % of one core. */
  redisCpuPct?: number;
  /** Client sockets closed unexpectedly during the phase. */
  disconnects: number;
  /** Anything that makes the phase doubtful (client-bound, dropped clients, disturbed); empty when clean. */
  notes: string[];
  room0: BlocksRoom0;
}

/**
 * The blocks scenario: the same load without blocks (A), with every client of
 * room 0 blocking `blocksPerClient` of its room's members (B), and without
 * blocks again after `unblock` (C, the run-to-run noise).
 */
export interface BlocksResult {
  rooms: number;
  roomSize: number;
  hz: number;
  /** Each client of room 0 blocks this many of its room's members in B. */
  blocksPerClient: number;
  /** Share of room 0's unblocked deliveries it should get in B: blocks are mutual, so each member misses the frames of the members it blocks and of those that block it. */
  room0ExpectedRatioB: number;
  a?: BlocksPhase;
  b?: BlocksPhase;
  c?: BlocksPhase;
  /** Phases measured again because other processes disturbed them. */
  discarded?: BlocksPhase[];
  error?: string;
}

/**
 * Noise bounds of the blocks verdict: blocks in room 0 count as slowing the
 * other rooms when B delivers less than `minDelivered` × A's rate, or B's p99
 * is above `maxP99` × the mean p99 of the two phases without blocks around
 * it (A before, C after; A alone without C). The p99 of one 5 s window on the
 * shared 2-core machine moved by up to 30% between A and C in the first runs,
 * C mostly lower (the server still warms up), hence the mean rather than A.
 */
export const BLOCKS_NOISE = { minDelivered: 0.98, maxP99: 1.25 } as const;

/** The p99 (ms) B is compared with: the mean of A's and C's, or A's without C. */
function blocksBaseP99(b: BlocksResult): number {
  return b.c ? (b.a!.latency.p99 + b.c.latency.p99) / 2 : b.a!.latency.p99;
}

/**
 * The blocks verdict: whether B slowed the other rooms beyond {@link BLOCKS_NOISE}
 * (`slowed`), with the reasons; `slowed` is null (not decided) when a kept
 * phase was still disturbed by other processes after its retries.
 */
export function blocksVerdict(b: BlocksResult): { slowed: boolean | null; reasons: string[] } | null {
  if (!b.a || !b.b) return null;
  const disturbed = ([['A', b.a], ['B', b.b], ['C', b.c]] as const).filter(([, p]) => p?.notes.some((n) => n.startsWith('disturbed')));
  if (disturbed.length > 0) return { slowed: null, reasons: [`phase(s) ${disturbed.map(([n]) => n).join(', ')} disturbed by other processes`] };
  const reasons: string[] = [];
  const delivered = b.b.deliveredPerSec / b.a.deliveredPerSec;
  if (!(delivered >= BLOCKS_NOISE.minDelivered)) reasons.push(`delivered B/A ${f(delivered, 2)}× < ${BLOCKS_NOISE.minDelivered}×`);
  const baseP99 = blocksBaseP99(b);
  if (!(b.b.latency.p99 <= BLOCKS_NOISE.maxP99 * baseP99)) reasons.push(`p99 ${f(b.b.latency.p99)} ms > ${BLOCKS_NOISE.maxP99} × ${f(baseP99)} ms`);
  return { slowed: reasons.length > 0, reasons };
}

/** The blocks scenario's summary (a verdict line, a table of the phases, room 0's check), markdown; empty without one. */
export function blocksLines(r: BenchResults): string {
  const lines: string[] = [];
  const x = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : '—');
  for (const s of r.servers) {
    const b = s.blocks;
    if (!b) continue;
    const verdict = blocksVerdict(b);
    if (b.error || !b.a || !b.b || !verdict) {
      lines.push(`- Blocks (${s.label}): failed: ${b.error ?? 'no result'}`);
      continue;
    }
    const { a, b: bb, c } = b;
    const passed = s.search?.best?.deliveredPerSec;
    const share = passed ? ` (${f((a.deliveredPerSec / passed) * 100, 0)}% of the delivered rate that passed this run's search)` : '';
    const again = b.discarded?.length ? ` ${b.discarded.length} disturbed measurement(s) were discarded and the phase measured again (${b.discarded.map((p) => p.notes.at(-1)).join('; ')}; in the JSON).` : '';
    const doubtful = ([a, bb, c].some((p) => p && p.notes.length > 0) ? ' Some phases have notes (see the table): read the ratios with care.' : '') + again;
    lines.push(
      `- Blocks (${s.label}): ${b.rooms} rooms × ${b.roomSize} @ ${b.hz} Hz${share}. A: no blocks; B: every client of room 0 blocks its next ${b.blocksPerClient} room members, so room 0's frames go to its members one by one; ${c ? 'C: unblocked again (noise). ' : ''}Rooms 1–${b.rooms - 1} are measured, room 0 is counted apart. ` +
        `**Did blocks in room 0 slow the other rooms? ${verdict.slowed === null ? `Not decided: ${verdict.reasons.join('; ')}` : verdict.slowed ? `Yes, beyond the noise bounds: ${verdict.reasons.join('; ')}` : 'No'}**: delivered B/A ${x(bb.deliveredPerSec, a.deliveredPerSec)}, p99 B/A ${x(bb.latency.p99, a.latency.p99)}` +
        `${c ? `, p99 B/mean(A, C) ${x(bb.latency.p99, blocksBaseP99(b))} (C/A, both without blocks: delivered ${x(c.deliveredPerSec, a.deliveredPerSec)}, p99 ${x(c.latency.p99, a.latency.p99)})` : ''}; bounds: delivered ≥ ${BLOCKS_NOISE.minDelivered}×, p99 ≤ ${BLOCKS_NOISE.maxP99}× ${c ? 'the mean of A and C' : 'A'}. ` +
        `Server CPU per delivery B/A ${x(bb.serverUsPerDelivery, a.serverUsPerDelivery)}, server CPU B/A ${x(bb.serverCpuPct, a.serverCpuPct)} (B includes room 0's one-by-one writes).${doubtful}`,
    );
    lines.push('');
    lines.push('| phase | other rooms: delivered msgs/s | delivered % | p50 / p99 / max ms | server CPU % (sys) | server µs/delivery | client CPU % | room 0: delivered msgs/s | % of unblocked | p50 / p99 ms | notes |');
    lines.push('|---|---:|---:|---|---|---:|---:|---:|---:|---|---|');
    for (const [name, p] of [['A (no blocks)', a], [`B (${b.blocksPerClient} blocks per client in room 0)`, bb], ['C (unblocked)', c]] as const) {
      if (!p) continue;
      lines.push(
        `| ${name} | ${int(p.deliveredPerSec)} | ${f(p.deliveredRatio * 100)} | ${f(p.latency.p50)} / ${f(p.latency.p99)} / ${f(p.latency.max)} | ${f(p.serverCpuPct, 0)} (${f(p.serverSysPct, 0)})${p.redisCpuPct !== undefined ? `, Redis ${f(p.redisCpuPct, 0)}` : ''} | ${f(p.serverUsPerDelivery, 2)} | ${f(p.clientCpuPct, 0)} | ${int(p.room0.deliveredPerSec)} | ${f(p.room0.deliveredRatio * 100)} | ${f(p.room0.latency.p50)} / ${f(p.room0.latency.p99)} | ${p.notes.join('; ') || '—'} |`,
      );
    }
    lines.push('');
    const took = Math.abs(bb.room0.deliveredRatio - b.room0ExpectedRatioB) < 0.01 && a.room0.deliveredRatio > 0.99;
    lines.push(
      `- Blocks took effect (${s.label}): room 0 got ${f(bb.room0.deliveredRatio * 100)}% of its unblocked deliveries in B against ${f(a.room0.deliveredRatio * 100)}% in A; mutual blocks leave each member ${b.roomSize - 1 - 2 * b.blocksPerClient} of its ${b.roomSize - 1} peers, i.e. ${f(b.room0ExpectedRatioB * 100)}%${took ? ' (as expected)' : ' (NOT as expected: check the server and the worker)'}.`,
    );
  }
  return lines.join('\n');
}

export interface BenchResults {
  name: string;
  date: string;
  command: string;
  durationSec: number;
  machine: { cpus: number; cpuModel: string; memGB: number; node: string; ulimitN: string };
  options: BenchOptions;
  servers: ServerResult[];
  ratios: Record<string, number | null>;
}

const f = (n: number | null | undefined, d = 1) => (n === null || n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(d));
const int = (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? '—' : Math.round(n).toLocaleString('en-US'));

/** The highest load (rooms, Hz) that both servers passed: their steps there, or null. */
export function commonStep(a: ServerResult, b: ServerResult): [StepResult, StepResult] | null {
  let best: [StepResult, StepResult] | null = null;
  for (const sa of a.search?.steps ?? []) {
    if (!sa.pass) continue;
    const sb = b.search?.steps.find((x) => x.pass && x.rooms === sa.rooms && x.hz === sa.hz);
    if (sb && (!best || sa.expectedPerSec > best[0].expectedPerSec)) best = [sa, sb];
  }
  return best;
}

/** Ratios Plexus/uWS and Plexus/Socket.IO of the headline numbers, from the same run. */
export function computeRatios(servers: readonly ServerResult[]): Record<string, number | null> {
  const by = (k: ServerKind) => servers.find((s) => s.kind === k);
  const p = by('plexus');
  const out: Record<string, number | null> = {};
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 && Number.isFinite(a) && Number.isFinite(b) ? Math.round((a / b) * 1000) / 1000 : null);
  for (const [k, name] of [['uws', 'uws'], ['socketio', 'socketio']] as const) {
    const o = by(k);
    if (!p || !o) continue;
    out[`delivered_plexus_over_${name}`] = ratio(p.search?.best?.deliveredPerSec, o.search?.best?.deliveredPerSec);
    out[`server_us_per_delivery_plexus_over_${name}`] = ratio(p.search?.best?.serverUsPerDelivery, o.search?.best?.serverUsPerDelivery);
    const common = commonStep(p, o);
    out[`server_us_per_delivery_at_common_step_plexus_over_${name}`] = common ? ratio(common[0].serverUsPerDelivery, common[1].serverUsPerDelivery) : null;
    out[`join_p99_plexus_over_${name}`] = ratio(p.joins?.join.p99, o.joins?.join.p99);
    out[`idle_kb_per_client_plexus_over_${name}`] = ratio(p.idle?.kbPerClient, o.idle?.kbPerClient);
  }
  const p2 = by('plexus2');
  if (p && p2) {
    out.delivered_plexus2_over_plexus = ratio(p2.search?.best?.deliveredPerSec, p.search?.best?.deliveredPerSec);
    out.server_us_per_delivery_plexus2_over_plexus = ratio(p2.search?.best?.serverUsPerDelivery, p.search?.best?.serverUsPerDelivery);
    const common = commonStep(p2, p);
    out.server_us_per_delivery_at_common_step_plexus2_over_plexus = common ? ratio(common[0].serverUsPerDelivery, common[1].serverUsPerDelivery) : null;
    out.join_p99_plexus2_over_plexus = ratio(p2.joins?.join.p99, p.joins?.join.p99);
  }
  return out;
}

/** Lowest acceptable delivered msgs/s of two Plexus nodes over one, on one machine. */
export const CLUSTER_TARGET = 0.7;

/** The headline table as markdown (also readable on stdout). */
export function headlineTable(r: BenchResults): string {
  const o = r.options;
  const lines = [
    `| server | load at best step | delivered msgs/s | p50 / p95 / p99 / max ms | server CPU s (% core) | server µs/delivery | peak RSS MB | client CPU % core | join p50 / p99 ms @${o.joinRate}/s | idle KB/client @${int(o.idleClients)}: RSS (JS heap) |`,
    '|---|---|---:|---|---|---:|---:|---:|---|---|',
  ];
  for (const s of r.servers) {
    const b = s.search?.best;
    const load = b ? `${b.rooms} rooms × ${o.roomSize} @ ${b.hz} Hz` : s.search ? (s.search.error ? 'error' : 'no step passed') : 'not run';
    lines.push(
      `| ${s.label} | ${load} | ${b ? int(b.deliveredPerSec) : '—'} | ${b ? `${f(b.latency.p50)} / ${f(b.latency.p95)} / ${f(b.latency.p99)} / ${f(b.latency.max)}` : '—'} | ${b ? `${f(b.serverCpuSec, 2)} (${f(b.serverCpuPct, 0)}%)` : '—'} | ${b ? f(b.serverUsPerDelivery, 2) : '—'} | ${b ? f(b.serverPeakRssMB, 0) : '—'} | ${b ? f(b.clientCpuPct, 0) : '—'} | ${s.joins && !s.joins.error ? `${f(s.joins.join.p50, 2)} / ${f(s.joins.join.p99, 2)}` : '—'} | ${s.idle && !s.idle.error ? `${f(s.idle.kbPerClient, 2)} (${f(s.idle.heapKbPerClient, 2)})` : '—'} |`,
    );
  }
  return lines.join('\n');
}

/** Ratios as a short markdown list. */
export function ratioLines(r: BenchResults): string {
  const R = r.ratios;
  const x = (k: string) => (R[k] === null || R[k] === undefined ? '—' : `${R[k]!.toFixed(2)}×`);
  const out: string[] = [];
  for (const [k, label] of [['uws', 'uWS.js bare relay'], ['socketio', 'Socket.IO relay']] as const) {
    if (!(`delivered_plexus_over_${k}` in R)) continue;
    out.push(
      `- Plexus / ${label}: delivered msgs/s under the bound ${x(`delivered_plexus_over_${k}`)}, server CPU per delivery at each one's best step ${x(`server_us_per_delivery_plexus_over_${k}`)} and at the highest load both passed ${x(`server_us_per_delivery_at_common_step_plexus_over_${k}`)}, join p99 ${x(`join_p99_plexus_over_${k}`)}, idle memory per client ${x(`idle_kb_per_client_plexus_over_${k}`)}`,
    );
  }
  if ('delivered_plexus2_over_plexus' in R) {
    const d = R.delivered_plexus2_over_plexus;
    const verdict = d === null || d === undefined ? 'not measured' : d >= CLUSTER_TARGET ? 'met' : 'NOT met';
    out.push(
      `- Plexus 2 nodes / Plexus 1 node: delivered msgs/s under the bound ${x('delivered_plexus2_over_plexus')} (target ≥ ${CLUSTER_TARGET}×: ${verdict}), server CPU per delivery (both nodes) at each one's best step ${x('server_us_per_delivery_plexus2_over_plexus')} and at the highest load both passed ${x('server_us_per_delivery_at_common_step_plexus2_over_plexus')}, join p99 ${x('join_p99_plexus2_over_plexus')}`,
    );
  }
  return out.join('\n');
}

/** Step-by-step log of each search, markdown. */
export function stepTables(r: BenchResults): string {
  const parts: string[] = [];
  for (const s of r.servers) {
    if (!s.search) continue;
    parts.push(`**${s.label}**${s.search.error ? ` (error: ${s.search.error})` : ''}`);
    parts.push('');
    parts.push('| rooms | Hz | clients | offered msgs/s in | delivered msgs/s | delivered % | p50 / p99 / max ms | server CPU % | client CPU % | result |');
    parts.push('|---:|---:|---:|---:|---:|---:|---|---:|---:|---|');
    for (const st of s.search.steps) {
      parts.push(
        `| ${st.rooms} | ${st.hz} | ${st.activeClients} | ${int(st.offeredPerSec)} | ${int(st.deliveredPerSec)} | ${f(st.deliveredRatio * 100)} | ${f(st.latency.p50)} / ${f(st.latency.p99)} / ${f(st.latency.max)} | ${f(st.serverCpuPct, 0)} | ${f(st.clientCpuPct, 0)} | ${st.pass ? 'pass' : `fail: ${st.reasons.join('; ')}`} |`,
      );
    }
    parts.push('');
  }
  return parts.join('\n');
}

/** Where the machine, not the server, set the limit: the best step used most of both cores. */
export function saturationLines(r: BenchResults): string {
  const out: string[] = [];
  for (const s of r.servers) {
    const b = s.search?.best;
    if (!b) continue;
    const services = (b.redisCpuPct ?? 0) + (b.dbCpuPct ?? 0);
    const total = b.serverCpuPct + b.clientCpuPct + (Number.isFinite(services) ? services : 0);
    const next = s.search!.steps.filter((x) => !x.pass && x.level > b.level).sort((x, y) => x.level - y.level)[0];
    const cluster = b.nodeCpuPct
      ? ` (nodes ${b.nodeCpuPct.map((c) => `${f(c, 0)}%`).join(' + ')}), Redis ${f(b.redisCpuPct, 0)}%, PostgreSQL ${f(b.dbCpuPct, 0)}%`
      : '';
    out.push(
      `- ${s.label}: at its best step the server used ${f(b.serverCpuPct, 0)}% of a core${cluster} and the load workers ${f(b.clientCpuPct, 0)}% (machine ${f(total, 0)}% of ${r.machine.cpus * 100}%)${total > r.machine.cpus * 100 * 0.85 ? ': the machine was saturated, the client shares the cores, so this is a floor for the server, not its ceiling' : ''}${next ? `; the next step (${next.rooms} rooms @ ${next.hz} Hz) failed: ${next.reasons.join('; ')}` : ''}.`,
    );
  }
  return out.join('\n');
}

/** Plexus against the issue's targets. */
export function targetLines(r: BenchResults): string {
  const p = r.servers.find((s) => s.kind === 'plexus');
  if (!p) return '';
  const out: string[] = [];
  if (p.idle && !p.idle.error) {
    const k = p.idle.kbPerClient;
    const verdict = !(k > 0) ? 'not measurable (RSS did not grow)' : k <= 6 ? 'met' : 'NOT met';
    out.push(`- Idle memory at ${int(p.idle.ok)} joined clients: ${f(k, 2)} KB/client RSS, ${f(p.idle.heapKbPerClient, 2)} KB/client JS heap (target ≤ 6 KB at 10,000): ${verdict}${p.idle.ok < 10000 ? ' (fewer clients than the target scenario)' : ''}; over the empty server ${f(p.idle.kbPerClientOverBaseline, 2)} KB/client RSS; server RSS before any client ${f(p.idle.baselineRssMB, 0)} MB (after a full GC; peak ${f(p.idle.peakRssMB, 0)} MB)`);
  }
  if (p.joins && !p.joins.error) {
    out.push(`- Join p99 at ${p.joins.rate} joins/s: ${f(p.joins.join.p99, 2)} ms (target < 20 ms): ${p.joins.join.p99 < 20 ? 'met' : 'NOT met'}`);
  }
  return out.join('\n');
}

/** The markdown summary of a run. */
export function markdownSummary(r: BenchResults): string {
  const o = r.options;
  return [
    `### Bench ${r.name}, ${r.date}`,
    '',
    `Command: \`${r.command}\` (took ${Math.round(r.durationSec)} s). Machine: ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memGB} GB, Node ${r.machine.node}, \`ulimit -n\` ${r.machine.ulimitN}. Server, load workers (${o.workers} processes) and runner share the machine; all traffic on 127.0.0.x.${r.servers.some((s) => s.kind === 'plexus2') ? ' Plexus (2 nodes, Redis): two node processes with the same REDIS_URL (a Redis started for the run) and DATABASE_URL (PostgreSQL 15 started for the run), on the same cores as everything else; client i of a room connects to node i mod 2, so most messages reach about half their receivers through Redis; its server CPU and RSS are the sums over both nodes, Redis and PostgreSQL CPU are given apart (below).' : ''}`,
    '',
    `Workload: rooms of ${o.roomSize} clients, each sending a NAF \`um\` update (naf string ~380 bytes; Plexus \`nafr\` frame ~470 bytes) at ${o.hz} Hz (search by ${o.searchBy === 'rooms' ? 'number of rooms' : `rate at ${o.rateRooms} rooms`}); a step passes when p99 send→receipt ≤ ${o.boundMs} ms, ≥ ${o.minDelivered * 100}% of expected deliveries arrive and no client is dropped. Each step: ${o.warmupSec} s warm-up, ${o.measureSec} s measured. "Delivered" counts messages received by clients (each message fans out to ${o.roomSize - 1} room members).`,
    '',
    headlineTable(r),
    '',
    ratioLines(r),
    '',
    targetLines(r),
    '',
    saturationLines(r),
    '',
    blocksLines(r),
    '',
    'Peak RSS is the highest VmRSS during the best step; it includes what earlier, heavier steps left behind (the steps run in search order), and for Plexus (1 node) the embedded PGlite database (≈ 440 MB after a full GC, up to ≈ 900 MB before the first one); the two nodes use PostgreSQL, outside their RSS. Join latency: Phoenix `phx_join` → ok reply (Plexus), `join` emit → ack (Socket.IO), WebSocket upgrade → open (uWS relay, which joins the room in the upgrade); new connections opened at the given rate, each joining at once. Idle memory: growth of server RSS (and V8 heap used) from half to all of the clients joined, divided by the clients of the second half (marginal cost per client; the figure over the empty server is in the JSON); each reading follows full GCs forced through the inspector until RSS settles. Server CPU is utime+stime of the server process from /proc over the measured window; client CPU is that of the load workers.',
    '',
    '<details><summary>Search steps</summary>',
    '',
    stepTables(r),
    '</details>',
  ]
    .join('\n')
    .replace(/\n{3,}/g, '\n\n'); // sections a run did not produce leave no run of blank lines
}

/** Replaces (or adds, under "## Performance") the block between the bench markers in a README text. */
export function replaceReadmeBlock(readme: string, block: string): string {
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const inner = `${start}\n${block.trim()}\n${end}`;
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a >= 0 && b > a) return readme.slice(0, a) + inner + readme.slice(b + end.length);
  const perf = /^## Performance[ \t]*$/m.exec(readme);
  if (perf) {
    const at = perf.index + perf[0].length;
    return `${readme.slice(0, at)}\n\n${inner}\n${readme.slice(at)}`;
  }
  return `${readme.replace(/\s*$/, '')}\n\n## Performance\n\n${inner}\n`;
}

export { SERVER_LABELS };
