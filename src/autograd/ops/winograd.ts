import type { Kernel } from '../../gpu/kernel.ts';
import { Tensor, keep } from '../tensor.ts';
import { type ConvGeometry, convTile, fitColumns, sharesRows } from './conv.ts';
import { type InputAffine, activationDefines, inputAffineDefines } from './nn.ts';

/**
 * 3x3 stride-1 convolutions by Winograd's F(m x m, 3x3) (kernels/winograd.wgsl): (m + 2)^2
 * multiplies per m x m outputs instead of 9 m^2, at the price of transforming input and output.
 * ResNet spends about 83% of its convolution FLOPs in 3x3 stride-1 layers, in the forward pass, the
 * input gradient (a transposed 3x3 stride-1 convolution) and the weight gradient.
 */
export type WinogradTile = 0 | 2 | 4;

/**
 * The output tile side m per pass; 0 takes the direct kernels. For gradients it is the largest tile
 * allowed (see gradientTile). F(2x2) rounds about as the direct kernels do (ResNet-18 Saliency at
 * 224: 1.7e-6 from PyTorch's, direct 1.9e-6); F(4x4) does 2.25 multiplies per output instead of 4,
 * but its transforms (entries up to 8) round 20-40x worse.
 *
 * Forward passes default to the direct kernels because a forward decides which ReLUs pass: any
 * change of rounding moves some input that sits within rounding of zero to the other side, and
 * the gradient takes the other branch. ResNet-18 IG at 64x64 (16 steps) is 8e-7 from Captum's with
 * the direct forward and 1.3e-3 with F(2x2) (4e-2 for Saliency at 224 with F(4x4)), though F(2x2)
 * computes each output as exactly, only in another order. Gradients carry no such decision: there
 * a rounding error stays a rounding error (ResNet-18 Saliency 7.3e-6 with F(4x4) input gradients).
 * A forward F(2x2) keeps the receptive-field Occlusion bit-exact (its boxes follow the tile grid);
 * with a forward F(4x4), Occlusion takes the full forward.
 */
export const winograd = {
  forwardTile: 0 as WinogradTile,
  gradInputTile: 4 as WinogradTile,
  gradWeightTile: 2 as WinogradTile,
  /** Gradient passes take a tile only with at least this many output tiles (see gradientTile). */
  minTiles: { 2: 32, 4: 48 },
};

export type WinogradTiles = Pick<typeof winograd, 'forwardTile' | 'gradInputTile' | 'gradWeightTile'>;

/**
 * Tiles from text, as the CLI and the bench take them: 'off' (all direct), one tile for every pass,
 * or three for forward, input gradient and weight gradient ('0,4,2', the defaults); tiles are 0, 2 or 4.
 */
export function parseWinograd(text: string): WinogradTiles {
  const tiles = (text === 'off' ? '0' : text).split(',').map((t) => t.trim());
  if (![1, 3].includes(tiles.length) || tiles.some((t) => !['0', '2', '4'].includes(t))) {
    throw new Error(`winograd: expected off, one tile (0, 2 or 4) or three (forward,input-gradient,weight-gradient, e.g. 0,4,2), got '${text}'`);
  }
  const [f, gi, gw] = (tiles.length === 1 ? [tiles[0], tiles[0], tiles[0]] : tiles).map(Number) as WinogradTile[];
  return { forwardTile: f, gradInputTile: gi, gradWeightTile: gw };
}

/** Channel counts below this gain nothing from the transforms' extra passes. */
const MIN_CHANNELS = 16;

type Filter = Pick<ConvGeometry, 'KH' | 'KW' | 'SH' | 'SW' | 'DH' | 'DW'>;

/** Whether a convolution with this filter and channels goes through Winograd with tile `tile` (0: never). */
export function winogradApplies(g: Filter, Cin: number, Kout: number, tile: WinogradTile): tile is 2 | 4 {
  return tile !== 0 && g.KH === 3 && g.KW === 3 && g.SH === 1 && g.SW === 1 && g.DH === 1 && g.DW === 1 &&
    Cin >= MIN_CHANNELS && Kout >= MIN_CHANNELS;
}

/**
 * The tile a gradient pass takes: the largest allowed whose output tiles keep the lanes busy. With
 * few tiles (a 7x7 map at batch 1: 4 of F(4x4)) the GEMM's workgroups run mostly empty and the
 * direct kernels win: at ResNet-18's shapes F(4x4) paid from about 48 tiles on, F(2x2) from 32.
 * Forward passes take their tile as set, so that Occlusion's boxes and the full map agree.
 */
function gradientTile(max: WinogradTile, N: number, OH: number, OW: number): WinogradTile {
  const tiles = (m: number) => N * Math.ceil(OH / m) * Math.ceil(OW / m);
  if (max === 4 && tiles(4) >= winograd.minTiles[4]) return 4;
  if (max !== 0 && tiles(2) >= winograd.minTiles[2]) return 2;
  return 0;
}

// The preprocessor wants every constant of the file, so the stages that do not tile get zeros.
type Stage = 'WEIGHT' | 'INPUT' | 'GEMM' | 'OUTPUT' | 'GRAD_OUTPUT' | 'GRAD_GEMM' | 'GRAD_WEIGHT';
const STAGES: Stage[] = ['WEIGHT', 'INPUT', 'GEMM', 'OUTPUT', 'GRAD_OUTPUT', 'GRAD_GEMM', 'GRAD_WEIGHT'];

const stage = (mode: Stage, tile: 2 | 4, inputs: number, defines = {}): Kernel => ({
  name: `winograd_${mode.toLowerCase()}`,
  file: 'winograd',
  inputs,
  outputs: 1,
  defines: {
    ...Object.fromEntries(STAGES.map((m) => [m, m === mode])),
    // The GEMM stages' tile; in the others only a placeholder that keeps rankOneUpdate's types valid.
    F4: tile === 4, TM: 4, TN: 4, WG: 0, BIAS: false, SUBGROUP: false, F16: false, ...activationDefines(null), ...inputAffineDefines(null, 0), OUTPUT_AT: 0, ...defines,
  },
});

/** A convolution problem as the kernels see it: `Cin` channels in, `Kout` out, square 3x3 filter. */
interface Problem {
  N: number; Cin: number; H: number; W: number; Kout: number; OH: number; OW: number; PH: number; PW: number;
}

/** A convolution as `run` computes it: the problem, the tile side m, and whether it is an input gradient. */
interface Plan extends Problem {
  tile: 2 | 4;
  flip: boolean;
}

const points = (q: Plan) => (q.tile + 2) ** 2;

function params(q: Plan): number[] {
  const TH = Math.ceil(q.OH / q.tile), TW = Math.ceil(q.OW / q.tile);
  const KP = Math.ceil(q.Kout / 4) * 4;
  return [q.N, q.Cin, q.H, q.W, q.Kout, q.OH, q.OW, q.PH, q.PW, TH, TW, KP, q.flip ? 1 : 0, 1, 0]; // splits, chunk: see winogradGradWeight
}

/** U = G g G^T for every filter, [points, Cin, KP]; cached on a weight that takes no gradient. */
function transformedWeight(w: Tensor, q: Plan): { t: Tensor; owned: boolean } {
  const make = () => {
    const ints = params(q), KP = ints[11];
    const u = new Tensor(w.ctx, [points(q), q.Cin, KP]);
    w.ctx.dispatch(stage('WEIGHT', q.tile, 1), {
      inputs: [w.buffer], outputs: [u.buffer], ints,
      workgroups: [Math.ceil(KP / 64), q.Cin, 1],
    });
    return u;
  };
  if (w.requiresGrad) return { t: make(), owned: true };
  const key = `winograd${q.tile}_${q.flip ? 'gin' : 'fwd'}`;
  let t = w.derived.get(key);
  if (!t || t.released) {
    t = keep(make());
    w.derived.set(key, t);
  }
  return { t, owned: false };
}

/** V = B^T d B for every tile and input channel, [points, Cin, T]; shared by the forward and the weight gradient. */
function transformedInput(x: Tensor, q: Plan, ints: number[], T: number): Tensor {
  const v = new Tensor(x.ctx, [points(q), q.Cin, T]);
  x.ctx.dispatch(stage('INPUT', q.tile, 1), { inputs: [x.buffer], outputs: [v.buffer], ints, workgroups: [Math.ceil(T / 64), q.Cin, 1] });
  return v;
}

function run(x: Tensor, w: Tensor, bias: Tensor | null, q: Plan, inputAffine: InputAffine | null = null): Tensor {
  const ctx = x.ctx;
  const ints = params(q);
  const T = q.N * ints[9] * ints[10]; // tiles
  const u = transformedWeight(w, q);
  const v = transformedInput(x, q, ints, T);
  // The direct kernels' register tile over (output channels, tiles), narrower where tiles are few.
  const tile = fitColumns(convTile(ctx, q.Kout), T);
  const m = new Tensor(ctx, [points(q), q.Kout, T]);
  ctx.dispatch(stage('GEMM', q.tile, 2, { ...tile, SUBGROUP: sharesRows(ctx, tile.TM) }), {
    inputs: [u.t.buffer, v.buffer], outputs: [m.buffer], ints,
    workgroups: [Math.ceil(T / (tile.WG * tile.TN)), Math.ceil(q.Kout / tile.TM), points(q)],
  });
  v.release();
  if (u.owned) u.t.release();
  const y = new Tensor(ctx, [q.N, q.Kout, q.OH, q.OW]);
  // An input gradient may apply its input's producer's BatchNorm and activation backward as it stores.
  const inputs = [m, ...(bias ? [bias] : []), ...(inputAffine ? [inputAffine.x, inputAffine.scale] : [])];
  ctx.dispatch(stage('OUTPUT', q.tile, inputs.length, { BIAS: !!bias, ...inputAffineDefines(inputAffine, bias ? 3 : 2), OUTPUT_AT: inputs.length + 1 }), {
    inputs: inputs.map((t) => t.buffer), outputs: [y.buffer], ints,
    workgroups: [Math.ceil(T / 64), q.Kout, 1],
  });
  m.release();
  return y;
}

/** The forward convolution y = conv2d(x, w) + bias for a geometry where winogradApplies. */
export function winogradForward(x: Tensor, w: Tensor, bias: Tensor | null, g: ConvGeometry): Tensor {
  return run(x, w, bias, { N: g.N, Cin: g.C, H: g.H, W: g.W, Kout: g.K, OH: g.OH, OW: g.OW, PH: g.PH, PW: g.PW, tile: winograd.forwardTile as 2 | 4, flip: false });
}

/**
 * The input gradient of a 3x3 stride-1 convolution: itself a 3x3 stride-1 convolution of gy with the
 * filters rotated by 180 degrees and input/output channels swapped, padded by 2 - padding.
 */
export function winogradGradInput(gy: Tensor, w: Tensor, g: ConvGeometry, tile: 2 | 4, inputAffine: InputAffine | null = null): Tensor {
  return run(gy, w, null, { N: g.N, Cin: g.K, H: g.OH, W: g.OW, Kout: g.C, OH: g.H, OW: g.W, PH: 2 - g.PH, PW: 2 - g.PW, tile, flip: true }, inputAffine);
}

/**
 * The weight gradient of a 3x3 stride-1 convolution through the adjoint of the forward's chain:
 * dM = A dy A^T per output tile, dU = V dM summed over tiles (the GEMM, split over tiles when the
 * output alone gives too few workgroups), gw = G^T dU G.
 */
export function winogradGradWeight(gy: Tensor, x: Tensor, g: ConvGeometry, m: 2 | 4): Tensor {
  const ctx = gy.ctx;
  const q: Plan = { N: g.N, Cin: g.C, H: g.H, W: g.W, Kout: g.K, OH: g.OH, OW: g.OW, PH: g.PH, PW: g.PW, tile: m, flip: false };
  const ints = params(q);
  const T = q.N * ints[9] * ints[10], KP = ints[11], AA = points(q);
  const v = transformedInput(x, q, ints, T);
  const dm = new Tensor(ctx, [AA, T, KP]);
  const rows = Math.min(T, ctx.limits.maxComputeWorkgroupsPerDimension);
  ctx.dispatch(stage('GRAD_OUTPUT', q.tile, 1), { inputs: [gy.buffer], outputs: [dm.buffer], ints, workgroups: [Math.ceil(KP / 64), rows, Math.ceil(T / rows)] });
  const tile = fitColumns(convTile(ctx, g.K), g.C); // as the direct weight gradient: TM over K, columns over C
  const groups = Math.ceil(g.C / (tile.WG * tile.TN)) * Math.ceil(g.K / tile.TM) * AA;
  const splits = Math.max(1, Math.min(Math.ceil(256 / groups), Math.floor(T / 64)));
  ints[13] = splits;
  ints[14] = Math.ceil(T / splits);
  const du = new Tensor(ctx, [splits, AA, g.K, g.C]);
  ctx.dispatch(stage('GRAD_GEMM', q.tile, 2, { ...tile, SUBGROUP: sharesRows(ctx, tile.TM) }), {
    inputs: [dm.buffer, v.buffer], outputs: [du.buffer], ints,
    workgroups: [Math.ceil(g.C / (tile.WG * tile.TN)), Math.ceil(g.K / tile.TM), AA * splits],
  });
  v.release();
  dm.release();
  const gw = new Tensor(ctx, [g.K, g.C, 3, 3]);
  ctx.dispatch(stage('GRAD_WEIGHT', q.tile, 1), { inputs: [du.buffer], outputs: [gw.buffer], ints, workgroups: [Math.ceil(g.C / 64), g.K, 1] });
  du.release();
  return gw;
}

/** The tile of winogradGradInput for this convolution, or 0 for the direct kernel (its padding 2 - p must be >= 0). */
export function gradInputTile(g: ConvGeometry): WinogradTile {
  const tile = gradientTile(winograd.gradInputTile, g.N, g.H, g.W);
  return winogradApplies(g, g.K, g.C, tile) && g.PH <= 2 && g.PW <= 2 ? tile : 0;
}

/** The tile of winogradGradWeight for this convolution, or 0 for the direct kernel. */
export function gradWeightTile(g: ConvGeometry): WinogradTile {
  const tile = gradientTile(winograd.gradWeightTile, g.N, g.OH, g.OW);
  return winogradApplies(g, g.C, g.K, tile) ? tile : 0;
}
