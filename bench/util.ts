import { mkdirSync, writeFileSync } from 'node:fs';
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
