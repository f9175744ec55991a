// The autotuner's choices kept across runs (Node only): one JSON file, by adapter, then by key
// (pass and geometry). $GLIMPSE_TUNING names the file; else tuning.json in Glimpse's cache folder, where
// the weights are (cacheDir: $GLIMPSE_CACHE, $XDG_CACHE_HOME/glimpse or ~/.cache/glimpse). A file that cannot be read as such is reported and ignored (tuning
// again costs time, never a result); it is replaced on the next save.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type ConvTile, convTuning } from '../autograd/index.ts';
import type { GpuContext } from '../gpu/device.ts';
import { cacheDir } from './pretrained.ts';

type CacheFile = Record<string, Record<string, ConvTile>>;

export function tuningCachePath(): string {
  return process.env.GLIMPSE_TUNING || join(cacheDir(), 'tuning.json');
}

function validTile(t: unknown): t is ConvTile {
  const o = t as ConvTile;
  const int = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  return !!o && typeof o === 'object' && [4, 8, 16].includes(o.TM) && [1, 2, 4, 8, 16].includes(o.TN) && int(o.WG) && o.WG % 8 === 0 && (o.groups === undefined || int(o.groups));
}

function readCache(path: string, warn: (m: string) => void): CacheFile {
  if (!existsSync(path)) return {};
  try {
    const data = JSON.parse(readFileSync(path, 'utf8'));
    if (!data || typeof data !== 'object' || Array.isArray(data)) throw new Error('not an object of adapters');
    return data as CacheFile;
  } catch (e) {
    warn(`glimpse: ignoring the tuning cache ${path} (${(e as Error).message}); it is rewritten after the next tuning`);
    return {};
  }
}

/** Loads this adapter's saved tiles into the engine; returns how many. Entries that are not tiles are skipped. */
export function loadTuning(ctx: GpuContext, path = tuningCachePath(), warn: (m: string) => void = console.warn): number {
  const entries = readCache(path, warn)[ctx.adapterDescription] ?? {};
  const table = convTuning(ctx);
  let n = 0;
  for (const [key, tile] of Object.entries(entries)) {
    if (!validTile(tile) || tile.WG > ctx.limits.maxComputeInvocationsPerWorkgroup) continue;
    table.set(key, tile);
    n++;
  }
  return n;
}

/** Writes this adapter's tiles (all it has now) into the file, keeping other adapters' entries. */
export function saveTuning(ctx: GpuContext, path = tuningCachePath(), warn: (m: string) => void = console.warn): void {
  const data = readCache(path, warn);
  data[ctx.adapterDescription] = Object.fromEntries(convTuning(ctx));
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`; // written whole, then renamed: a crash never leaves half a file
  writeFileSync(tmp, JSON.stringify(data, null, 1) + '\n');
  renameSync(tmp, path);
}
