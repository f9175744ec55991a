import type { GpuContext } from '../../gpu/device.ts';
import type { Kernel } from '../../gpu/kernel.ts';
import { record } from '../grad.ts';
import { Tensor, keep } from '../tensor.ts';
import { permuteRaw } from './layout.ts';
import { type Activation, type InputAffine, activationDefines, activationSuffix, channelAffineBackward, channelAffineRaw, inputAffineDefines, inputAffineOf } from './nn.ts';
import { sumAxisRaw } from './reduce.ts';
import { gradInputTile, gradWeightTile, winograd, winogradApplies, winogradForward, winogradGradInput, winogradGradWeight } from './winograd.ts';

export type Pair = number | [number, number];
export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
}

const pair = (v: Pair | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

/**
 * A direct kernel's tile: TM channels x TN positions per invocation, WG invocations per workgroup;
 * `groups` (weight gradient only): how many workgroups to aim for by splitting its sum over positions.
 */
export interface ConvTile {
  TM: number;
  TN: number;
  WG: number;
  groups?: number;
}

export type ConvPass = 'forward' | 'grad_input' | 'grad_weight';

/**
 * Tiles chosen by measurement (`tuneConv`, src/autograd/ops/conv-tune.ts), per device: by pass and
 * geometry less the batch. A forward or input-gradient tile changes speed only: every output sums its
 * terms in the same order whatever the tile, so tuned and default tiles give the same bits.
 */
const tuned = new WeakMap<GpuContext, Map<string, ConvTile>>();

export function convTuning(ctx: GpuContext): Map<string, ConvTile> {
  let table = tuned.get(ctx);
  if (!table) tuned.set(ctx, (table = new Map()));
  return table;
}

export function tuningKey(pass: ConvPass, g: ConvGeometry): string {
  return `${pass} C${g.C} ${g.H}x${g.W} K${g.K} ${g.KH}x${g.KW} s${g.SH},${g.SW} p${g.PH},${g.PW} d${g.DH},${g.DW}`;
}

/**
 * What a direct kernel's tile spans: its rows are output channels (input channels for the input
 * gradient), its columns positions (of one stride phase for the input gradient) or, for the weight
 * gradient, the (c, kh, kw) entries.
 */
export function convSpan(pass: ConvPass, g: ConvGeometry): { channels: number; columns: number } {
  if (pass === 'forward') return { channels: g.K, columns: g.N * g.OH * g.OW };
  if (pass === 'grad_input') return { channels: g.C, columns: g.N * Math.ceil(g.H / g.SH) * Math.ceil(g.W / g.SW) };
  return { channels: g.K, columns: g.C * g.KH * g.KW };
}

/** The default tile of a direct kernel: convTile's, fitted to the columns it spans. */
export function defaultConvTile(ctx: GpuContext, pass: ConvPass, g: ConvGeometry): ConvTile {
  const { channels, columns } = convSpan(pass, g);
  return fitColumns(convTile(ctx, channels), columns);
}

/** The tuned tile for this pass and geometry, else the default. */
export function convTileFor(ctx: GpuContext, pass: ConvPass, g: ConvGeometry): ConvTile {
  return convTuning(ctx).get(tuningKey(pass, g)) ?? defaultConvTile(ctx, pass, g);
}

/**
 * Register tile (TM channels x TN positions per invocation) and workgroup width. On CPU adapters
 * (lavapipe, SwiftShader: 8-lane SIMD) every storage load costs about as much as 40 FMAs, a vec4 load
 * 1.7 scalar ones, and accumulators are cheap up to 256 per invocation: a 16 x 16 tile does 256 FMAs
 * for 16 scalar and 4 vec4 loads (measured on ResNet-18's shapes at batch 8, mean GFLOP/s forward /
 * grad-input / grad-weight: 8x4 10.3 / 9.0 / 8.0, 16x8 13.2 / 14.3 / 11.7, 16x16 17.8 / 15.7 / 13.8;
 * 32x8 and 16x24 fall off a cliff). Where the rows come by subgroup broadcast (sharesRows) one lane
 * load brings 32 rows, so a 32 x 4 tile takes a quarter of 16 x 16's input loads per FMA with half
 * the accumulators: in alternation at batch 16, 18.6-20.4 -> 23.3-25.7 GFLOP/s forward, 28.0-30.0
 * -> 31.3-33.0 input gradient (Winograd's GEMM included), 17.0-20.9 -> 23.1-25.0 weight gradient
 * (24 x 4 and 32 x 2 gained nothing; 32 x 8 falls off the cliff). When the tiled dimension is small
 * (the 3 input channels of the stem's input gradient) a 4-channel tile wastes less; 17 to 31 rows
 * (MobileNetV2's 24-channel layers) lose less to 32 x 4's idle rows than to 16 x 16's loads, and 5 to
 * 16 rows take 16 x 4 (docs/performance.md, "Small channel counts"). GPUs want wider
 * groups and fewer registers (the autotuner, conv-tune.ts, picks per GPU and shape).
 */
export function convTile(ctx: GpuContext, channels: number): ConvTile {
  // A GPU's weight gradient wants thousands of workgroups: on an H200, splitting ResNet-18's stem
  // into 4096 instead of 64 took it from 14.5 to 1.1 ms (measured by the autotuner).
  if (!ctx.cpuAdapter) return { TM: 8, TN: 4, WG: 64, groups: 4096 };
  if (channels <= 4) return { TM: 4, TN: 16, WG: 8 };
  if (channels > 16 && sharesRows(ctx, 32)) return { TM: 32, TN: 4, WG: 8 };
  if (sharesRows(ctx, 16)) return { TM: 16, TN: 4, WG: 8 };
  return { TM: 16, TN: 16, WG: 8 };
}

/**
 * The tile with the columns per invocation (TN: 16, 8 or 4) that costs least for `n` columns: lanes
 * past `n` do wasted work (a 1x1 weight gradient over 64 input channels fills half of 8 x 16), and
 * narrower tiles load more per FMA ((TN + TM/4) loads for TM x TN FMAs; on lavapipe a load costs
 * about 40 FMAs).
 */
export function fitColumns<T extends { TM: number; TN: number; WG: number }>(tile: T, n: number): T {
  const cost = (TN: number) => (Math.ceil(n / (tile.WG * TN)) * tile.WG * TN / n) * ((TN + tile.TM / 4) / (tile.TM * TN) + 1 / 40);
  let best = tile.TN;
  for (let TN = tile.TN / 2; TN >= 4; TN /= 2) if (cost(TN) < cost(best)) best = TN;
  return { ...tile, TN: best };
}

/** The tiled kernels' workgroup: 16 x 16 threads over a 64 x 64 block (kernels/conv.wgsl, TILED). */
const TILED_TILE: ConvTile = { TM: 4, TN: 4, WG: 256 };

/**
 * What selects a convolution kernel beside its tile and pass: a bias, the tiled form (GPUs), the 1x1
 * form (pointwiseApplies), a fused epilogue, and the channels each output sums per tap (the direct
 * forwards and input gradient), whose parity sets how many a loop round takes (kernels/conv.wgsl, PAIRS).
 */
interface KernelOptions {
  bias?: boolean;
  tiled?: boolean;
  pointwise?: boolean;
  epilogue?: ConvEpilogue | null;
  channels?: number;
  /** Input gradient: the input's producer's BatchNorm and activation backward, applied as it stores. */
  inputAffine?: InputAffine | null;
}

function kernel(ctx: GpuContext, { TM, TN, WG }: ConvTile, mode: 'forward' | 'grad_input' | 'grad_weight',
  { bias = false, tiled = false, pointwise = false, epilogue = null, channels = 1, inputAffine = null }: KernelOptions = {}): Kernel {
  const SUBGROUP = !tiled && sharesRows(ctx, TM);
  const F16 = mode !== 'grad_weight' && halfPrecision(ctx, mode);
  // A 1x1 input gradient is a 1x1 forward with the channels' roles swapped (conv2dGradInput).
  const body = pointwise ? 'forward' : mode;
  // The bindings after x or gy (1) and w (2): bias, BatchNorm scale and shift, residual (the forward's),
  // the input's producer's output and scale (an input gradient's), the output.
  let at = 3;
  const BIAS_AT = bias ? at++ : 0, AFFINE_AT = epilogue ? at++ : 0, SHIFT_AT = epilogue ? at++ : 0;
  const RESIDUAL_AT = epilogue?.residual ? at++ : 0;
  const INPUT_AT = inputAffine ? at : 0;
  if (inputAffine) at += 2;
  const fused = epilogue ? `_bn${epilogue.residual ? '_add' : ''}${activationSuffix(epilogue.activation)}` : '';
  return {
    name: `conv2d_${mode}${tiled ? '_tiled' : ''}${pointwise ? '_1x1' : ''}${fused}${inputAffine ? `_into_bn${activationSuffix(inputAffine.activation)}` : ''}${F16 ? '_f16' : ''}`,
    file: 'conv',
    inputs: body === 'grad_weight' ? 2 : at - 1,
    outputs: 1,
    defines: {
      TM, TN, WG, SUBGROUP, F16, FORWARD: body === 'forward', GRAD_INPUT: body === 'grad_input', GRAD_WEIGHT: body === 'grad_weight',
      TILED: tiled, BIAS: bias, POINTWISE: pointwise, AFFINE: !!epilogue, RESIDUAL: !!epilogue?.residual, ...activationDefines(epilogue?.activation ?? null),
      ...inputAffineDefines(inputAffine, INPUT_AT), BIAS_AT, AFFINE_AT, SHIFT_AT, RESIDUAL_AT, OUTPUT_AT: at, PAIRS: !tiled && TN === 4 && TM >= 16 && channels % 2 === 0,
    },
  };
}

/**
 * What a forward convolution's epilogue applies after the sum (and the bias): a BatchNorm's
 * per-channel affine map, then optionally a residual and an activation, as kernels/channel.wgsl computes them.
 */
export interface ConvEpilogue {
  scale: Tensor;
  shift: Tensor;
  residual: Tensor | null;
  activation: Activation;
}

/** The inputs of a forward dispatch in binding order (kernels/conv.wgsl): x, the weight, then the epilogue's. */
function forwardInputs(x: Tensor, wt: Tensor, bias: Tensor | null, ep: ConvEpilogue | null): GPUBuffer[] {
  const extra = [bias, ep?.scale ?? null, ep?.shift ?? null, ep?.residual ?? null].filter((t): t is Tensor => t !== null);
  return [x, wt, ...extra].map((t) => t.buffer);
}

/**
 * Whether a direct or tiled kernel of this pass computes in f16 (`convSettings.precision`): operands
 * rounded to f16 as they are loaded, products summed in f16, results stored as f32, so every other
 * kernel and every tensor stays f32. Winograd's passes stay f32 (their transforms would amplify f16's
 * rounding), as does the weight gradient (a sum over every position of the batch).
 */
function halfPrecision(ctx: GpuContext, mode: 'forward' | 'grad_input'): boolean {
  const pass = mode === 'forward' ? 'forward' : 'gradInput';
  const setting = convSettings.precision?.[pass];
  if (setting === 'f32') return false;
  if (setting !== 'f16') throw new Error(`convSettings.precision.${pass} must be 'f32' or 'f16', got ${JSON.stringify(setting)}`);
  if (!ctx.shaderF16) throw new Error(`convSettings.precision asks for f16 but the adapter (${ctx.adapterDescription}) lacks the shader-f16 feature: keep 'f32'`);
  return true;
}

type KernelChoice = 'auto' | 'direct' | 'tiled';
/**
 * Which kernel runs the forward and the input gradient: 'tiled' (a GEMM through workgroup memory,
 * 64 x 64 blocks) or 'direct' (per-invocation register tiles, no workgroup memory, no barriers);
 * 'auto' takes the tiled one on GPUs and the direct one on CPU adapters, where workgroup memory costs
 * what any load costs and barriers serialise. Both sum in the same order: the same bits.
 */
export const convSettings: {
  forward: KernelChoice; gradInput: KernelChoice; subgroups: 'auto' | 'off'; pointwise: 'auto' | 'off'; epilogue: 'auto' | 'off'; precision: ConvPrecision;
} = {
  forward: 'auto', gradInput: 'auto', subgroups: 'auto', pointwise: 'auto', epilogue: 'auto', precision: { forward: 'f32', gradInput: 'f32' },
};

/**
 * The arithmetic of the forward and input-gradient convolutions (halfPrecision): 'f16' needs the
 * adapter's shader-f16 feature. On ResNet-18 an f16 forward moves attributions by 15-30% (its rounding
 * flips ReLUs and max-pool choices, which gradients follow); f16 input gradients alone by 0.4-1%.
 */
export interface ConvPrecision {
  forward: 'f32' | 'f16';
  gradInput: 'f32' | 'f16';
}

/** A precision as the CLI and the bench take it: f32, f16 (both passes), or F,GI (e.g. f32,f16). */
export function parsePrecision(text: string): ConvPrecision {
  const parts = text.split(',').map((t) => t.trim());
  if (parts.length > 2 || !parts.every((t) => t === 'f32' || t === 'f16')) {
    throw new Error(`precision: expected f32, f16, or two (forward,input-gradient, e.g. f32,f16), got '${text}'`);
  }
  const [forward, gradInput = forward] = parts as ('f32' | 'f16')[];
  return { forward, gradInput };
}

/**
 * Whether a direct kernel (or Winograd GEMM) with TM-row tiles loads its rows once per subgroup and
 * broadcasts them (kernels/register-tile.wgsl, shareRows) instead of once per lane:
 * `convSettings.subgroups` 'auto' takes it on CPU adapters with subgroups of at least TM / 4 lanes
 * (lavapipe: 8; bench:kernels' means at batch 16, forward / input / weight gradient, 19.0-19.4 /
 * 26.5-27.1 / 16.6-18.8 -> 21.0-22.2 / 29.0-31.3 / 20.9-22.1 GFLOP/s with 16 x 16 tiles, and it
 * makes the taller tiles of convTile pay). GPUs serve a uniform load from cache as one broadcast
 * already. The same fmas in the same order: the same bits either way.
 */
export function sharesRows(ctx: GpuContext, TM: number): boolean {
  return convSettings.subgroups === 'auto' && ctx.cpuAdapter && TM / 4 <= Math.min(8, ctx.subgroupMinSize);
}

/**
 * Whether a direct forward or input gradient takes the 1x1 form (kernels/conv.wgsl, POINTWISE): a
 * 1x1 convolution with stride 1 and no padding over maps of a multiple of 4 positions, with 4-column
 * tiles, loads each lane's 4 positions as one vec4 where the general kernel loads 4 scalars. Same
 * sums, same order, same bits. ResNet-50's 1x1 shapes at batch 16 on lavapipe, in alternation: 10%
 * faster on the mean (0-30% per shape). `convSettings.pointwise = 'off'` keeps the general kernel.
 */
export function pointwiseApplies(g: ConvGeometry, tile: ConvTile): boolean {
  return convSettings.pointwise === 'auto' && tile.TN === 4 && g.KH === 1 && g.KW === 1 && g.SH === 1 && g.SW === 1 &&
    g.PH === 0 && g.PW === 0 && (g.H * g.W) % 4 === 0;
}

export function tiledForward(ctx: GpuContext): boolean {
  return convSettings.forward === 'tiled' || (convSettings.forward === 'auto' && !ctx.cpuAdapter);
}

/** The tiled input gradient, where its 64-channel blocks are not mostly empty (the stem's 3 channels keep the direct kernel). */
export function tiledGradInput(ctx: GpuContext, g: ConvGeometry): boolean {
  return convSettings.gradInput === 'tiled' || (convSettings.gradInput === 'auto' && !ctx.cpuAdapter && g.C >= 16);
}

export interface ConvGeometry {
  N: number; C: number; H: number; W: number;
  K: number; OH: number; OW: number;
  KH: number; KW: number; SH: number; SW: number; PH: number; PW: number; DH: number; DW: number;
}

export function convGeometry(xShape: readonly number[], wShape: readonly number[], opts: Conv2dOptions = {}): ConvGeometry {
  if (xShape.length !== 4) throw new Error(`conv2d: input must be [N, C, H, W], got [${xShape.join(', ')}]`);
  if (wShape.length !== 4) throw new Error(`conv2d: weight must be [K, C, KH, KW], got [${wShape.join(', ')}]`);
  const [N, C, H, W] = xShape;
  const [K, C2, KH, KW] = wShape;
  if (C !== C2) throw new Error(`conv2d: input has ${C} channels, weight expects ${C2}`);
  const [SH, SW] = pair(opts.stride, 1), [PH, PW] = pair(opts.padding, 0), [DH, DW] = pair(opts.dilation, 1);
  const OH = Math.floor((H + 2 * PH - DH * (KH - 1) - 1) / SH) + 1;
  const OW = Math.floor((W + 2 * PW - DW * (KW - 1) - 1) / SW) + 1;
  if (OH <= 0 || OW <= 0) throw new Error(`conv2d: input ${H}x${W} is too small for a ${KH}x${KW} kernel with padding ${PH},${PW} and dilation ${DH},${DW}`);
  return { N, C, H, W, K, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW };
}

const params = (g: ConvGeometry, chunk = 0) =>
  [g.N, g.C, g.H, g.W, g.K, g.OH, g.OW, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.DH, g.DW, chunk];

/**
 * The weight in the layout a kernel reads, cached on the weight while it takes no gradient (model
 * parameters), so inference and attribution loops permute each weight once.
 */
function weightAs(w: Tensor, perm: number[], key: string): { t: Tensor; owned: boolean } {
  if (w.requiresGrad) return { t: permuteRaw(w, perm, [3]), owned: true };
  let t = w.derived.get(key);
  if (!t || t.released) {
    t = keep(permuteRaw(w, perm, [3]));
    w.derived.set(key, t);
  }
  return { t, owned: false };
}

/** The forward convolution, with `epilogue` applied in the same pass where the kernel can (else by channelAffine's kernel). */
export function conv2dForwardRaw(x: Tensor, w: Tensor, bias: Tensor | null, g: ConvGeometry, epilogue: ConvEpilogue | null = null): Tensor {
  if (winogradApplies(g, g.C, g.K, winograd.forwardTile)) {
    const y = winogradForward(x, w, bias, g);
    if (!epilogue) return y;
    const out = channelAffineRaw(y, epilogue.scale, epilogue.shift, epilogue.activation, epilogue.residual);
    y.release();
    return out;
  }
  const tiled = tiledForward(x.ctx);
  const tile = tiled ? TILED_TILE : convTileFor(x.ctx, 'forward', g);
  const wt = weightAs(w, [2, 3, 1, 0], 'conv_fwd'); // [KH, KW, C, K]
  const y = new Tensor(x.ctx, [g.N, g.K, g.OH, g.OW]);
  const [cols, rows] = tiled ? [64, 64] : [tile.WG * tile.TN, tile.TM];
  x.ctx.dispatch(kernel(x.ctx, tile, 'forward', { bias: !!bias, tiled, pointwise: !tiled && pointwiseApplies(g, tile), epilogue, channels: g.C }), {
    inputs: forwardInputs(x, wt.t, bias, epilogue), outputs: [y.buffer], ints: params(g),
    workgroups: [Math.ceil((g.N * g.OH * g.OW) / cols), Math.ceil(g.K / rows), 1],
  });
  if (wt.owned) wt.t.release();
  return y;
}

/**
 * The gradient to the input of a convolution; with inputAffine, the backward of the BatchNorm and
 * activation that made the input applied as it stores (GradNode.outputAffine; the same bits).
 */
export function conv2dGradInput(gy: Tensor, w: Tensor, g: ConvGeometry, inputAffine: InputAffine | null = null): Tensor {
  const wino = gradInputTile(g);
  if (wino) return winogradGradInput(gy, w, g, wino, inputAffine);
  const affine = inputAffine ? [inputAffine.x.buffer, inputAffine.scale.buffer] : [];
  const phasePositions = convSpan('grad_input', g).columns;
  const tiled = tiledGradInput(gy.ctx, g);
  const tile = tiled ? TILED_TILE : convTileFor(gy.ctx, 'grad_input', g);
  const [cols, rows] = tiled ? [64, 64] : [tile.WG * tile.TN, tile.TM];
  const wt = weightAs(w, [2, 3, 0, 1], 'conv_gin'); // [KH, KW, K, C]
  const gx = new Tensor(gy.ctx, [g.N, g.C, g.H, g.W]);
  if (!tiled && pointwiseApplies(g, tile)) {
    // gx[b, c] = sum over k of w[k, c] gy[b, k]: the 1x1 forward from K channels to C, weight [K, C].
    const t = { ...g, C: g.K, K: g.C };
    gy.ctx.dispatch(kernel(gy.ctx, tile, 'grad_input', { pointwise: true, channels: t.C, inputAffine }), {
      inputs: [gy.buffer, wt.t.buffer, ...affine], outputs: [gx.buffer], ints: params(t),
      workgroups: [Math.ceil((g.N * g.H * g.W) / (tile.WG * 4)), Math.ceil(g.C / tile.TM), 1],
    });
    if (wt.owned) wt.t.release();
    return gx;
  }
  gy.ctx.dispatch(kernel(gy.ctx, tile, 'grad_input', { tiled, channels: g.K, inputAffine }), {
    inputs: [gy.buffer, wt.t.buffer, ...affine], outputs: [gx.buffer], ints: params(g),
    workgroups: [Math.ceil(phasePositions / cols), Math.ceil(g.C / rows), g.SH * g.SW],
  });
  if (wt.owned) wt.t.release();
  return gx;
}

export function conv2dGradWeight(gy: Tensor, x: Tensor, g: ConvGeometry): Tensor {
  const wino = gradWeightTile(g);
  if (wino) return winogradGradWeight(gy, x, g, wino);
  const ctx = gy.ctx;
  const Q = g.C * g.KH * g.KW, P = g.N * g.OH * g.OW;
  const tile = convTileFor(ctx, 'grad_weight', g), { TM, TN, WG } = tile;
  // gy as [N, OH*OW, K] (K padded to 4) so the TM output channels of a position are one vec4 load.
  const gyt = permuteRaw(gy.view([g.N, g.K, g.OH * g.OW]), [0, 2, 1], [2]);
  const tiles = Math.ceil(Q / (WG * TN)) * Math.ceil(g.K / TM);
  // Split the reduction over positions when the output alone gives too few workgroups.
  const splits = Math.max(1, Math.min(Math.ceil((tile.groups ?? 64) / tiles), Math.floor(P / 64)));
  const chunk = Math.ceil(P / splits);
  const partial = new Tensor(ctx, [splits, g.K, Q]);
  ctx.dispatch(kernel(ctx, tile, 'grad_weight'), {
    inputs: [gyt.buffer, x.buffer], outputs: [partial.buffer], ints: params(g, chunk),
    workgroups: [Math.ceil(Q / (WG * TN)), Math.ceil(g.K / TM), splits],
  });
  gyt.release();
  if (splits === 1) return partial.reshapeInto([g.K, g.C, g.KH, g.KW]);
  const gw = sumAxisRaw(partial, 1, splits, g.K * Q, 1, [g.K, g.C, g.KH, g.KW]);
  partial.release();
  return gw;
}

/** Bias gradient: the output gradient summed over batch and positions. */
function biasGrad(gy: Tensor, g: ConvGeometry): Tensor {
  const perImage = sumAxisRaw(gy, g.N * g.K, g.OH * g.OW, 1);
  const gb = sumAxisRaw(perImage, 1, g.N, g.K, 1, [g.K]);
  perImage.release();
  return gb;
}

/** torch.nn.functional.conv2d (groups = 1). */
function checkBias(bias: Tensor | null, g: ConvGeometry): void {
  if (bias && (bias.rank !== 1 || bias.size !== g.K)) throw new Error(`conv2d: bias must have ${g.K} elements, got [${bias.shape.join(', ')}]`);
}

/** conv2dAffine's options: what follows the BatchNorm's affine map. */
export interface AffineEpilogue {
  /** Added after the affine map (a ResNet block's identity). */
  residual?: Tensor | null;
  /** Applied last: ReLU, or Clip to [min, max] (ReLU6). */
  activation?: Activation;
}

/**
 * act(conv2d(x, w, bias) * scale + shift + residual), the residual and the activation optional: a
 * ResNet block's convolution with its inference-mode BatchNorm (scale, shift per output channel), in
 * one pass (the epilogue of the convolution's kernel) where conv2d and channelAffine take two. The
 * same arithmetic, the same bits. Backward: channelAffine's, then the convolution's, with the same kernels.
 */
export function conv2dAffine(x: Tensor, w: Tensor, bias: Tensor | null, opts: Conv2dOptions, scale: Tensor, shift: Tensor, epilogue: AffineEpilogue = {}): Tensor {
  const g = convGeometry(x.shape, w.shape, opts);
  checkBias(bias, g);
  if (scale.size !== g.K || shift.size !== g.K) throw new Error(`conv2dAffine: ${g.K} output channels, but ${scale.size} scales and ${shift.size} shifts`);
  const shape = [g.N, g.K, g.OH, g.OW];
  const residual = epilogue.residual ?? null, activation = epilogue.activation ?? null;
  if (residual && residual.shape.join() !== shape.join()) throw new Error(`conv2dAffine: residual [${residual.shape.join(', ')}] does not match the output [${shape.join(', ')}]`);
  const y = conv2dForwardRaw(x, w, bias, g, { scale, shift, activation, residual });
  const inputs = [x, w, ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  return record(y, `conv2d_bn${residual ? '_add' : ''}${activationSuffix(activation)}`, inputs, (gy, needs, { affineApplied, applyInputAffine }) => {
    const [gc, gr] = affineApplied ? [gy, null] : channelAffineBackward(gy, scale, y, activation, !!residual, !!residual && needs[inputs.length - 1]);
    const grads = [needs[0] ? conv2dGradInput(gc, w, g, inputAffineOf(x, applyInputAffine[0])) : null, needs[1] ? conv2dGradWeight(gc, x, g) : null];
    if (bias) grads.push(needs[2] ? biasGrad(gc, g) : null);
    if (residual) grads.push(gr);
    if (gc !== gy) gc.release();
    return grads;
  }, { outputAffine: residual ? undefined : { scale, activation }, appliesInputAffine: [true] });
}

export function conv2d(x: Tensor, w: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  const g = convGeometry(x.shape, w.shape, opts);
  checkBias(bias, g);
  const y = conv2dForwardRaw(x, w, bias, g);
  const inputs = bias ? [x, w, bias] : [x, w];
  return record(y, 'conv2d', inputs, (gy, needs, { applyInputAffine }) => [
    needs[0] ? conv2dGradInput(gy, w, g, inputAffineOf(x, applyInputAffine[0])) : null,
    needs[1] ? conv2dGradWeight(gy, x, g) : null,
    needs[2] ? biasGrad(gy, g) : null,
  ], { appliesInputAffine: [true] });
}
