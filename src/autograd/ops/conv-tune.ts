// A small autotuner for the direct convolution kernels: per device, per pass and geometry, it times
// a handful of tiles and keeps the fastest in convTuning(ctx), where the kernels look first. The
// defaults (convTile) were chosen on lavapipe; a real GPU wants other shapes (wider workgroups, fewer
// registers, more workgroups for the weight gradient), which differ from one GPU to the next.
// Passes that Winograd computes are left alone. Saving the choices across runs is the caller's
// (src/io/tuning-cache.ts on Node).
import type { GpuContext } from '../../gpu/device.ts';
import { msPerCall } from '../../gpu/timing.ts';
import { keep, tidy } from '../tensor.ts';
import { type ConvGeometry, type ConvPass, type ConvTile, conv2dForwardRaw, conv2dGradInput, conv2dGradWeight, convSpan, convTuning, defaultConvTile, sharesRows, tiledForward, tiledGradInput, tuningKey } from './conv.ts';
import { fill } from './elementwise.ts';
import { gradInputTile, gradWeightTile, winograd, winogradApplies } from './winograd.ts';

export interface TuneChoice {
  key: string;
  tile: ConvTile;
  /** Milliseconds per call: the default tile's, and the chosen one's. */
  defaultMs: number;
  ms: number;
}

const tileName = (t: ConvTile) => `${t.TM}x${t.TN}/${t.WG}${t.groups ? `/${t.groups}` : ''}`;

/** The tiles worth trying on this adapter for one pass; the default comes first. */
export function tileCandidates(ctx: GpuContext, pass: ConvPass, g: ConvGeometry): ConvTile[] {
  const { channels } = convSpan(pass, g);
  const base = defaultConvTile(ctx, pass, g);
  let tiles: ConvTile[];
  if (ctx.cpuAdapter) {
    // 8-lane SIMD: rows of 8 (or 16) lanes, up to 256 accumulators (beyond, the JIT falls off a cliff);
    // tall tiles where subgroups share the rows (convTile; 32 x 6 read 4-10% faster than 32 x 4 on
    // ResNet-18's forwards at batch 16 and 6% slower at batch 1, where 7x7 maps leave lanes idle).
    tiles = channels <= 4 ? [{ TM: 4, TN: 16, WG: 8 }, { TM: 4, TN: 8, WG: 8 }]
      : [{ TM: 16, TN: 16, WG: 8 }, { TM: 16, TN: 8, WG: 8 }, { TM: 8, TN: 16, WG: 8 }, { TM: 16, TN: 8, WG: 16 },
        ...(sharesRows(ctx, 32) ? [{ TM: 32, TN: 4, WG: 8 }, { TM: 32, TN: 6, WG: 8 }, { TM: 32, TN: 4, WG: 16 }] : [])];
  } else {
    const shapes = [[8, 4, 64], [4, 4, 64], [8, 4, 128], [4, 4, 128], [8, 2, 64], [4, 2, 128], [16, 4, 64], [8, 8, 64]];
    tiles = shapes.map(([TM, TN, WG]) => ({ TM, TN, WG })).filter((t) => t.WG <= ctx.limits.maxComputeInvocationsPerWorkgroup);
  }
  if (pass === 'grad_weight') {
    // How far to split the sum over positions: a GPU wants thousands of workgroups, lavapipe's 2 threads a few dozen.
    const groups = ctx.cpuAdapter ? [64] : [64, 512, 4096];
    tiles = tiles.slice(0, ctx.cpuAdapter ? tiles.length : 4).flatMap((t) => groups.map((n) => ({ ...t, groups: n })));
  }
  const seen = new Set<string>();
  return [base, ...tiles].filter((t) => !seen.has(tileName(t)) && !!seen.add(tileName(t)));
}

/** True when this pass runs on the direct kernels (not Winograd, not a tiled kernel) under the current settings. */
function direct(ctx: GpuContext, pass: ConvPass, g: ConvGeometry): boolean {
  if (pass === 'forward') return !winogradApplies(g, g.C, g.K, winograd.forwardTile) && !tiledForward(ctx);
  if (pass === 'grad_input') return !gradInputTile(g) && !tiledGradInput(ctx, g);
  return !gradWeightTile(g);
}

/**
 * Times every candidate tile of every (pass, geometry) not yet tuned and records the fastest. Each
 * geometry is timed at its own batch and the choice serves all batches. `log` hears each choice.
 */
export async function tuneConv(ctx: GpuContext, geometries: ConvGeometry[], opts: { passes?: ConvPass[]; log?: (c: TuneChoice) => void } = {}): Promise<TuneChoice[]> {
  const passes = opts.passes ?? ['forward', 'grad_input'];
  const table = convTuning(ctx);
  const choices: TuneChoice[] = [];
  for (const g of geometries) {
    for (const pass of passes) {
      const key = tuningKey(pass, g);
      if (table.has(key) || !direct(ctx, pass, g)) continue;
      const { x, w, gy } = tidy(() => ({
        x: keep(fill(ctx, [g.N, g.C, g.H, g.W], 0.5)), w: keep(fill(ctx, [g.K, g.C, g.KH, g.KW], 0.01)), gy: keep(fill(ctx, [g.N, g.K, g.OH, g.OW], 0.1)),
      }));
      const run = pass === 'forward' ? () => conv2dForwardRaw(x, w, null, g) : pass === 'grad_input' ? () => conv2dGradInput(gy, w, g) : () => conv2dGradWeight(gy, x, g);
      try {
        let best: { tile: ConvTile; ms: number } | null = null, defaultMs = 0;
        for (const tile of tileCandidates(ctx, pass, g)) {
          table.set(key, tile);
          const ms = await msPerCall(ctx, () => tidy(() => run().release()));
          if (!best) defaultMs = ms;
          if (!best || ms < best.ms) best = { tile, ms };
        }
        table.set(key, best!.tile);
        const choice = { key, tile: best!.tile, defaultMs, ms: best!.ms };
        choices.push(choice);
        opts.log?.(choice);
      } catch (e) {
        table.delete(key);
        throw e;
      } finally {
        for (const t of [x, w, gy]) t.release();
      }
    }
  }
  return choices;
}

/** A choice as one line: `forward C64 56x56 K64 3x3 s1,1 p1,1 d1,1: 16x8/8, 12.1 -> 10.3 ms`. */
export const describeChoice = (c: TuneChoice) => `${c.key}: ${tileName(c.tile)}, ${c.defaultMs.toFixed(2)} -> ${c.ms.toFixed(2)} ms`;
