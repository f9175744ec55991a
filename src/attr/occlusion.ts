import type { Kernel } from '../gpu/kernel.ts';
import { Tensor, tidy, keep, noGrad } from '../autograd/index.ts';
import * as ops from '../autograd/ops/index.ts';
import { grid } from '../autograd/ops/launch.ts';
import { type ForwardFunc, type ProgressCallback, type Target, asFunction, rowsPerPass, checkImageBatch, repeatTargets, resolveTargets, scores } from './common.ts';
import { type Baseline, baselineTensor } from './integrated-gradients.ts';
import { BaseMaps, type Boxed, boxedForwardOf } from '../nn/boxed.ts';

const kernel = (perturb: boolean, mask: boolean, box = false): Kernel => ({
  name: `${mask ? 'feature_ablation' : 'occlusion'}_${perturb ? (box ? 'perturb_box' : 'perturb') : 'finalize'}`,
  file: 'occlusion', inputs: mask ? 3 : 2, outputs: 1, defines: { PERTURB: perturb, MASK: mask, BOX: box },
});

/** [N, D0, D1, D2] view of an input of rank 2..4, as the kernels address it. */
function dims3(inputs: Tensor, method: string): [number, number, number] {
  const rest = inputs.shape.slice(1);
  if (rest.length > 3) throw new Error(`${method}: inputs of rank ${inputs.rank} are not supported (at most 4: [N, C, H, W])`);
  while (rest.length < 3) rest.unshift(1);
  return rest as [number, number, number];
}

/**
 * Uniforms of kernels/occlusion.wgsl: the geometry [N, D0..D2, W0..W2, S0..S2, K0..K2], then the
 * perturbations first .. first + count - 1, then whether the feature mask is per example.
 */
const uniforms = (geometry: number[], first: number, count: number, maskBatched: boolean) => [...geometry, first, count, maskBatched ? 1 : 0];

/**
 * The loop both methods share: F(x) once, then every perturbation's F in batches (each batch built on
 * the GPU from perturbation indices), the scores gathered into one [perturbations, N] buffer, and a
 * final kernel turning them into attributions. Nothing but the attributions leaves the GPU.
 */
async function perturbationAttribution(
  method: string, forward: (x: Tensor) => Tensor, key: object, inputs: Tensor, targetSpec: Target, baselines: Baseline | undefined,
  perturbations: number, perEval: number | undefined, geometry: number[], mask: Tensor | null, maskBatched: boolean, onProgress?: ProgressCallback,
  boxed: ((X: Boxed, bases: BaseMaps) => Tensor) | null = null,
): Promise<Tensor> {
  const ctx = inputs.ctx, N = inputs.shape[0], rest = inputs.shape.slice(1);
  const targets = await resolveTargets(forward, inputs, targetSpec, method);
  const baseline = keep(baselineTensor(inputs, baselines, method));
  const f0 = keep(tidy(() => scores(forward, inputs, targets)));
  const evals = keep(new Tensor(ctx, [perturbations, N]));
  const bases = boxed ? new BaseMaps() : null;
  try {
    const per = perEval !== undefined
      ? await rowsPerPass(forward, key, inputs, perEval, false, `${method}: perturbationsPerEval`)
      : Math.max(1, Math.floor((await rowsPerPass(forward, key, inputs, undefined, false, '')) / N));
    for (let first = 0; first < perturbations; first += per) {
      const count = Math.min(per, perturbations - first);
      tidy(() => {
        const inputsList = [inputs.buffer, baseline.buffer, ...(mask ? [mask.buffer] : [])];
        const perturbed = (shape: number[], box: boolean) => {
          const t = new Tensor(ctx, shape);
          ctx.dispatch(kernel(true, !!mask, box), { inputs: inputsList, outputs: [t.buffer], ints: uniforms(geometry, first, count, maskBatched), workgroups: grid(ctx, t.size) });
          return t;
        };
        const s = boxed
          ? boxedScores(boxed, inputs, perturbed([count, rest[0], geometry[5], geometry[6]], true), bases!, geometry, first, count, targets)
          : scores(forward, perturbed([count * N, ...rest], false), repeatTargets(targets, count));
        ctx.copy(s.buffer, 0, evals.buffer, first * N * 4, count * N * 4);
      });
      await ctx.sync();
      onProgress?.(first + count, perturbations);
    }
    const attr = new Tensor(ctx, inputs.shape);
    ctx.dispatch(kernel(false, !!mask), { inputs: [f0.buffer, evals.buffer, ...(mask ? [mask.buffer] : [])], outputs: [attr.buffer], ints: uniforms(geometry, 0, perturbations, maskBatched), workgroups: grid(ctx, inputs.size) });
    return attr;
  } finally {
    baseline.release();
    f0.release();
    evals.release();
    bases?.release();
  }
}

/**
 * Occlusion's scores through a receptive-field forward (src/nn/boxed.ts, graph-boxed.ts): each window's spatial
 * box, over all channels, is cut from its perturbed input (`patch` [count, C, W1, W2], built by the
 * perturbation kernel's BOX form, which places the boxes as here), and the network recomputes only
 * what the box reaches in its early layers, from base maps computed with the first batch. The same
 * bits as the full forward, at a fraction of its work.
 */
function boxedScores(net: (X: Boxed, bases: BaseMaps) => Tensor, inputs: Tensor, patch: Tensor, bases: BaseMaps, geometry: number[], first: number, count: number, targets: number[]): Tensor {
  const [, , D1, D2, , W1, W2, , S1, S2, K0, K1] = geometry;
  const boxes = new Int32Array(2 * count);
  for (let q = 0; q < count; q++) {
    const k = first + q, k1 = Math.floor(k / K0) % K1, k2 = Math.floor(k / (K0 * K1)); // Captum's order: the first dimension fastest
    boxes[2 * q] = Math.min(k1 * S1, D1 - W1); // the last window is cropped at the border: its box stays inside
    boxes[2 * q + 1] = Math.min(k2 * S2, D2 - W2);
  }
  return noGrad(() => ops.selectTargets(net({ base: inputs, patch, boxes }, bases), repeatTargets(targets, count)));
}

export interface OcclusionOptions {
  /** Window over the non-batch dimensions, e.g. [3, 15, 15]. */
  slidingWindowShapes: number[];
  /** Step of the window along each dimension (default 1), e.g. [3, 8, 8]. */
  strides?: number | number[];
  target?: Target;
  baselines?: Baseline;
  /** Perturbed inputs per forward pass; by default sized from the device limits. */
  perturbationsPerEval?: number;
  onProgress?: ProgressCallback;
}

/**
 * Captum's Occlusion: slides a window of baseline values over the input; each element's attribution
 * is the mean drop of the target score over the windows that cover it. Windows start every `stride`
 * along each dimension, ceil((size - window) / stride) + 1 of them, the last cropped at the border.
 */
export class Occlusion {
  private forward: (x: Tensor) => Tensor;
  constructor(private forwardFunc: ForwardFunc) {
    this.forward = asFunction(forwardFunc);
  }

  async attribute(inputs: Tensor, opts: OcclusionOptions): Promise<Tensor> {
    checkImageBatch(inputs, 'Occlusion');
    const d = dims3(inputs, 'Occlusion');
    const rank = inputs.rank - 1;
    const win = opts?.slidingWindowShapes;
    if (!Array.isArray(win) || win.length !== rank) throw new Error(`Occlusion: slidingWindowShapes must give ${rank} sizes (one per non-batch dimension of [${inputs.shape.join(', ')}]), got ${JSON.stringify(win)}`);
    const strides = opts.strides === undefined ? new Array(rank).fill(1) : typeof opts.strides === 'number' ? new Array(rank).fill(opts.strides) : opts.strides;
    if (strides.length !== rank) throw new Error(`Occlusion: strides must give ${rank} values, got ${JSON.stringify(opts.strides)}`);
    const shape = inputs.shape.slice(1);
    win.forEach((w, i) => {
      if (!Number.isInteger(w) || w < 1 || w > shape[i]) throw new Error(`Occlusion: window ${w} does not fit dimension ${i + 1} of size ${shape[i]}`);
      if (!Number.isInteger(strides[i]) || strides[i] < 1) throw new Error(`Occlusion: strides must be positive integers, got ${JSON.stringify(strides)}`);
    });
    const counts = shape.map((s, i) => Math.ceil((s - win[i]) / strides[i]) + 1);
    const pad = (a: number[], v: number) => [...new Array(3 - a.length).fill(v), ...a];
    const W = pad(win, 1), S = pad(strides, 1), K = pad(counts, 1);
    const total = counts.reduce((a, b) => a * b, 1);
    const geometry = [inputs.shape[0], ...d, ...W, ...S, ...K];
    // One image [1, C, H, W] through a network with a receptive-field forward (a ResNet, a graph model):
    // recompute only what the windows reach.
    const boxed = inputs.shape[0] === 1 && inputs.rank === 4 ? boxedForwardOf(this.forwardFunc) : null;
    return perturbationAttribution('Occlusion', this.forward, this.forwardFunc, inputs, opts.target, opts.baselines, total, opts.perturbationsPerEval, geometry, null, false, opts.onProgress, boxed);
  }
}

export interface FeatureAblationOptions {
  target?: Target;
  baselines?: Baseline;
  /**
   * Integer feature ids over the non-batch shape (shared by all examples) or the full input shape: elements
   * with the same id are ablated together. Default: every element is its own feature.
   */
  featureMask?: ArrayLike<number>;
  perturbationsPerEval?: number;
  onProgress?: ProgressCallback;
}

/** Captum's FeatureAblation: each feature's attribution is the drop of the target score when it alone is replaced by the baseline. */
export class FeatureAblation {
  private forward: (x: Tensor) => Tensor;
  constructor(private forwardFunc: ForwardFunc) {
    this.forward = asFunction(forwardFunc);
  }

  async attribute(inputs: Tensor, opts: FeatureAblationOptions = {}): Promise<Tensor> {
    checkImageBatch(inputs, 'FeatureAblation');
    const d = dims3(inputs, 'FeatureAblation');
    const per = inputs.size / inputs.shape[0];
    const ids = opts.featureMask ?? Array.from({ length: per }, (_, i) => i);
    if (ids.length !== per && ids.length !== inputs.size) {
      throw new Error(`FeatureAblation: featureMask has ${ids.length} entries; it must cover one example (${per}) or the whole batch (${inputs.size})`);
    }
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < ids.length; i++) {
      if (!Number.isInteger(ids[i])) throw new Error(`FeatureAblation: featureMask must hold integer ids, found ${ids[i]}`);
      lo = Math.min(lo, ids[i]);
      hi = Math.max(hi, ids[i]);
    }
    const shifted = Float32Array.from(ids, (v) => v - lo);
    const mask = keep(ops.fromArray(inputs.ctx, shifted, [shifted.length]));
    try {
      // No windows: unit window, stride and count keep the geometry well formed.
      const geometry = [inputs.shape[0], ...d, 1, 1, 1, 1, 1, 1, 1, 1, 1];
      return await perturbationAttribution('FeatureAblation', this.forward, this.forwardFunc, inputs, opts.target, opts.baselines, hi - lo + 1, opts.perturbationsPerEval, geometry, mask, ids.length === inputs.size, opts.onProgress);
    } finally {
      mask.release();
    }
  }
}
