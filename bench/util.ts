import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GpuContext } from '../src/gpu/device.ts';
import { msPerCall } from '../src/gpu/timing.ts';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

/** Milliseconds per call of `run` (which records GPU work), median of `reps` timings: the engine's msPerCall. */
export const timeMs = (ctx: GpuContext, run: () => void | Promise<unknown>, reps = 3): Promise<number> => msPerCall(ctx, run, reps);

export function writeResult(name: string, data: unknown): string {
  const path = join(BENCH_DIR, 'results', name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(data, null, 1) + '\n');
  return path;
}

export function table(rows: Record<string, string | number>[]): string {
  if (!rows.length) return '';
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: string | number | undefined) => (v === undefined ? '-' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : Math.abs(v) < 0.01 ? v.toExponential(2) : v.toFixed(2)) : v);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(width[i])).join('  ');
  return [line(cols), line(width.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

/**
 * The sections of bench/README.md that runs other than lavapipe's main bench write, by the start of
 * their heading line, in the order they appear: a real GPU's run, `bench:peers`, the f16 runs
 * (one section per precision and kind of adapter).
 */
export const README_SECTIONS = ['## On a real GPU', '## Beside the WebGPU peers and WebAssembly', '## f16 path'];

/** Replaces one part of bench/README.md (heading '': the main part; else the section of that heading line), keeping the others as they were. */
export function writeReadmePart(heading: string, lines: string[]): void {
  const file = join(BENCH_DIR, 'README.md');
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const escape = (h: string) => h.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const headings = [...old.matchAll(new RegExp(`^(${README_SECTIONS.map(escape).join('|')}).*$`, 'gm'))];
  const parts = new Map<string, string>([['', old.slice(0, headings[0]?.index ?? old.length).trimEnd()]]);
  for (const [i, m] of headings.entries()) parts.set(m[0], old.slice(m.index, headings[i + 1]?.index ?? old.length).trimEnd());
  parts.set(heading, (heading ? [heading, '', ...lines] : ['# Benchmarks', '', ...lines]).join('\n').trimEnd());
  if (!parts.get('')) parts.set('', '# Benchmarks');
  const rank = (h: string) => (h ? README_SECTIONS.findIndex((s) => h.startsWith(s)) + 1 : 0);
  const order = [...parts.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  writeFileSync(file, order.map((h) => parts.get(h)).join('\n\n') + '\n');
}

/** One row of `bench:peers`: a case on Glimpse and on one peer engine, in the same run. */
export interface PeerRow {
  case: string; peer: string; engine_ms: number; peer_ms: number; ratio: number;
  rel_l2_vs_glimpse: number; same_top1?: 'yes' | 'no'; runs: number;
}

/** What `bench:peers` last measured (bench/results/peers.json), if it has run here. */
export function lastPeerRun(): { date: string; args: string; machine: string; note?: string; engines: { name: string; describe: string }[]; rows: PeerRow[] } | null {
  const file = join(BENCH_DIR, 'results', 'peers.json');
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null;
}

/**
 * bench/results/bench.json: this run's rows, with the other kind's kept (the main bench's rows and
 * the peer rows, which carry a `peer`, are written by different runs).
 */
export function writeBenchRows<R extends object>(mine: R[], peers: boolean): string {
  const file = join(BENCH_DIR, 'results', 'bench.json');
  const old: Record<string, unknown>[] = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : [];
  const kept = old.filter((r) => ('peer' in r) !== peers);
  return writeResult('bench.json', peers ? [...kept, ...mine] : [...mine, ...kept]);
}
