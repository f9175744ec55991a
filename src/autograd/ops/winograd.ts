import type { GpuContext } from '../../gpu/device.ts';
import type { Kernel } from '../../gpu/kernel.ts';
import { Tensor, keep } from '../tensor.ts';
import { type ConvGeometry, fitColumns } from './conv.ts';

/**
 * 3x3 stride-1 convolutions by Winograd's F(2x2, 3x3) (kernels/winograd.wgsl): 16 multiplies per
 * 2x2 outputs instead of 36, at the price of transforming input and output. ResNet spends about
 * 83% of its convolution FLOPs in 3x3 stride-1 layers, forward and (as a transposed 3x3 stride-1
 * convolution) input gradient.
 */
export const winograd = {
  /** Off: every convolution takes the direct implicit-GEMM kernels (the bench compares both). */
  enabled: true,
  /**
   * Output tile side m of F(m x m, 3x3); the transforms work on (m + 2) x (m + 2) points. F(2x2)
   * rounds like the direct kernels (ResNet-18 Saliency 1.7e-6 from PyTorch's, direct 1.9e-6) and
   * each output depends only on its own receptive field, so the receptive-field Occlusion stays
   * bit-exact. F(4x4) does 2.25 multiplies per output instead of 4, but its transforms (entries
   * up to 8) round 20-40x worse: enough to flip a ReLU whose input is near zero (ResNet-18 Saliency
   * at 224: 4e-2 from PyTorch's). Opt in where speed matters more than the last digits.
   */
  tile: 2 as 2 | 4,
};

/** Channel counts below this gain nothing from the transforms' extra passes. */
const MIN_CHANNELS = 16;

type Filter = Pick<ConvGeometry, 'KH' | 'KW' | 'SH' | 'SW' | 'DH' | 'DW'>;

export function winogradApplies(g: Filter, Cin: number, Kout: number): boolean {
  return winograd.enabled && g.KH === 3 && g.KW === 3 && g.SH === 1 && g.SW === 1 && g.DH === 1 && g.DW === 1 &&
    Cin >= MIN_CHANNELS && Kout >= MIN_CHANNELS;
}

/**
 * The GEMM's register tile: the direct kernels' (see convTile), with fewer tiles per invocation when
 * there are too few tiles to fill the lanes (7x7 maps at a small batch: 4 tiles per image).
 */
function gemmTile(ctx: GpuContext, tiles: number): { TM: number; TN: number; WG: number } {
  return fitColumns(ctx.cpuAdapter ? { TM: 16, TN: 16, WG: 8 } : { TM: 8, TN: 4, WG: 64 }, tiles);
}

// The preprocessor wants every constant of the file, so the stages that do not tile get zeros.
const stage = (mode: 'WEIGHT' | 'INPUT' | 'GEMM' | 'OUTPUT', inputs: number, defines = {}): Kernel => ({
  name: `winograd_${mode.toLowerCase()}`,
  file: 'winograd',
  inputs,
  outputs: 1,
  defines: {
    WEIGHT: mode === 'WEIGHT', INPUT: mode === 'INPUT', GEMM: mode === 'GEMM', OUTPUT: mode === 'OUTPUT',
    F4: winograd.tile === 4, TM: 0, TN: 0, WG: 0, BIAS: false, ...defines,
  },
});

/** A convolution problem as the kernels see it: `Cin` channels in, `Kout` out, square 3x3 filter. */
interface Problem {
  N: number; Cin: number; H: number; W: number; Kout: number; OH: number; OW: number; PH: number; PW: number;
}

const points = () => (winograd.tile + 2) ** 2;

function params(q: Problem, flip: boolean): number[] {
  const TH = Math.ceil(q.OH / winograd.tile), TW = Math.ceil(q.OW / winograd.tile);
  const KP = Math.ceil(q.Kout / 4) * 4;
  return [q.N, q.Cin, q.H, q.W, q.Kout, q.OH, q.OW, q.PH, q.PW, TH, TW, KP, flip ? 1 : 0];
}

/** U = G g G^T for every filter, [points, Cin, KP]; cached on a weight that takes no gradient. */
function transformedWeight(w: Tensor, q: Problem, flip: boolean): { t: Tensor; owned: boolean } {
  const make = () => {
    const KP = Math.ceil(q.Kout / 4) * 4;
    const u = new Tensor(w.ctx, [points(), q.Cin, KP]);
    w.ctx.dispatch(stage('WEIGHT', 1), {
      inputs: [w.buffer], outputs: [u.buffer], ints: params(q, flip),
      workgroups: [Math.ceil(KP / 64), q.Cin, 1],
    });
    return u;
  };
  if (w.requiresGrad) return { t: make(), owned: true };
  const key = `winograd${winograd.tile}_${flip ? 'gin' : 'fwd'}`;
  let t = w.derived.get(key);
  if (!t || t.released) {
    t = keep(make());
    w.derived.set(key, t);
  }
  return { t, owned: false };
}

function run(x: Tensor, w: Tensor, bias: Tensor | null, q: Problem, flip: boolean): Tensor {
  const ctx = x.ctx;
  const ints = params(q, flip);
  const T = q.N * ints[9] * ints[10]; // tiles
  const u = transformedWeight(w, q, flip);
  const v = new Tensor(ctx, [points(), q.Cin, T]);
  ctx.dispatch(stage('INPUT', 1), { inputs: [x.buffer], outputs: [v.buffer], ints, workgroups: [Math.ceil(T / 64), q.Cin, 1] });
  const tile = gemmTile(ctx, T);
  const m = new Tensor(ctx, [points(), q.Kout, T]);
  ctx.dispatch(stage('GEMM', 2, tile), {
    inputs: [u.t.buffer, v.buffer], outputs: [m.buffer], ints,
    workgroups: [Math.ceil(T / (tile.WG * tile.TN)), Math.ceil(q.Kout / tile.TM), points()],
  });
  v.release();
  if (u.owned) u.t.release();
  const y = new Tensor(ctx, [q.N, q.Kout, q.OH, q.OW]);
  ctx.dispatch(stage('OUTPUT', bias ? 2 : 1, { BIAS: !!bias }), {
    inputs: bias ? [m.buffer, bias.buffer] : [m.buffer], outputs: [y.buffer], ints,
    workgroups: [Math.ceil(T / 64), q.Kout, 1],
  });
  m.release();
  return y;
}

/** The forward convolution y = conv2d(x, w) + bias for a geometry where winogradApplies. */
export function winogradForward(x: Tensor, w: Tensor, bias: Tensor | null, g: ConvGeometry): Tensor {
  return run(x, w, bias, { N: g.N, Cin: g.C, H: g.H, W: g.W, Kout: g.K, OH: g.OH, OW: g.OW, PH: g.PH, PW: g.PW }, false);
}

/**
 * The input gradient of a 3x3 stride-1 convolution: itself a 3x3 stride-1 convolution of gy with the
 * filters rotated by 180 degrees and input/output channels swapped, padded by 2 - padding.
 */
export function winogradGradInput(gy: Tensor, w: Tensor, g: ConvGeometry): Tensor {
  return run(gy, w, null, { N: g.N, Cin: g.K, H: g.OH, W: g.OW, Kout: g.C, OH: g.H, OW: g.W, PH: 2 - g.PH, PW: 2 - g.PW }, true);
}

/** Whether the input gradient can go through winogradGradInput (its padding 2 - p must be >= 0). */
export function winogradGradInputApplies(g: ConvGeometry): boolean {
  return winogradApplies(g, g.K, g.C) && g.PH <= 2 && g.PW <= 2;
}
