import { Tensor, tidy, keep, unkeep, noGrad } from '../autograd/index.ts';
import * as ops from '../autograd/ops/index.ts';
import { grid } from '../autograd/ops/launch.ts';
import { type IntegrationMethod, approximationParameters } from './approximation.ts';
import { type LinearStem, linearStem } from '../nn/stem.ts';
import { type ForwardFunc, type ProgressCallback, type Target, asFunction, rowsPerPass, checkImageBatch, gradientOfTargets, repeatTargets, resolveTargets, scores } from './common.ts';

export type Baseline = number | Tensor;

export interface IntegratedGradientsOptions {
  target?: Target;
  /** A number, or a tensor of the input's shape (or with batch 1, for every example). Default 0. */
  baselines?: Baseline;
  nSteps?: number;
  method?: IntegrationMethod;
  /** Rows (steps x examples) per forward and backward pass; by default sized from the device limits. */
  internalBatchSize?: number;
  returnConvergenceDelta?: boolean;
  onProgress?: ProgressCallback;
}

/** The baseline as a full tensor of the input's shape. */
export function baselineTensor(inputs: Tensor, b: Baseline | undefined, method: string): Tensor {
  if (b === undefined || typeof b === 'number') {
    if (b !== undefined && !Number.isFinite(b)) throw new Error(`${method}: baselines must be finite, got ${b}`);
    return ops.fill(inputs.ctx, inputs.shape, b ?? 0);
  }
  if (!(b instanceof Tensor)) throw new Error(`${method}: baselines must be a number or a Tensor`);
  const same = b.rank === inputs.rank && b.shape.every((d, i) => d === inputs.shape[i] || (i === 0 && d === 1));
  if (!same) throw new Error(`${method}: baselines of shape [${b.shape.join(', ')}] do not match inputs [${inputs.shape.join(', ')}]`);
  return b.shape[0] === inputs.shape[0] ? ops.affine(b, 1, 0) : ops.repeatBatch(b, inputs.shape[0]);
}

/** kernels/attribution.wgsl's pass over `n` values per step: 4 a lane where n allows. */
function pathKernel(scaleInputs: boolean, n: number) {
  const VEC4 = n % 4 === 0, count = VEC4 ? n / 4 : n;
  return {
    kernel: { name: scaleInputs ? 'ig_scale_inputs' : 'ig_accumulate', file: 'attribution', inputs: scaleInputs ? 3 : 2, outputs: 1, defines: { SCALE_INPUTS: scaleInputs, VEC4 } },
    count,
  };
}

/**
 * sum over steps of stepSize * d F(b + alpha (x - b)) / d input, with every interpolated input built
 * on the GPU and the weighted sum accumulated there: the path integral of Integrated Gradients
 * without the final multiplication by (x - b).
 * With the network's linear stem (src/nn/stem.ts) the steps' gradients are taken and summed at conv1's
 * output, and the sum goes back through conv1 once: the forward is the same, the gradient rounds differently.
 */
export async function integratePathGradients(
  forward: (x: Tensor) => Tensor, inputs: Tensor, baseline: Tensor, targets: number[],
  alphas: number[], stepSizes: number[], batchRows: number, onProgress?: ProgressCallback, stem: LinearStem | null = null,
): Promise<Tensor> {
  const ctx = inputs.ctx, N = inputs.shape[0], n = inputs.size, rest = inputs.shape.slice(1);
  const stepsPerBatch = Math.max(1, Math.floor(batchRows / N));
  const alpha = keep(ops.fromArray(ctx, alphas, [alphas.length]));
  const weight = keep(ops.fromArray(ctx, stepSizes, [stepSizes.length]));
  let total: Tensor | null = null; // [N, ...] where the gradients are taken: the input, or conv1's output
  try {
    for (let s0 = 0; s0 < alphas.length; s0 += stepsPerBatch) {
      const S = Math.min(stepsPerBatch, alphas.length - s0);
      tidy(() => {
        const scaled = new Tensor(ctx, [S * N, ...rest]);
        const scale = pathKernel(true, n);
        ctx.dispatch(scale.kernel, { inputs: [inputs.buffer, baseline.buffer, alpha.buffer], outputs: [scaled.buffer], ints: [scale.count, S, s0], workgroups: grid(ctx, scale.count * S) });
        const { grads } = stem ? gradientOfTargets((c) => stem.afterStem(c), stem.stem(scaled), repeatTargets(targets, S), true)
          : gradientOfTargets(forward, scaled, repeatTargets(targets, S));
        const m = grads.size / S;
        total ??= keep(ops.fill(ctx, [N, ...grads.shape.slice(1)], 0));
        const sum = pathKernel(false, m);
        ctx.dispatch(sum.kernel, { inputs: [grads.buffer, weight.buffer], outputs: [total.buffer], ints: [sum.count, S, s0], workgroups: grid(ctx, sum.count) });
      });
      await ctx.sync(); // bounds the work in flight; each batch's graph is already freed
      onProgress?.(s0 + S, alphas.length);
    }
    if (!stem || !total) return total ?? keep(ops.fill(ctx, inputs.shape, 0));
    const atStem: Tensor = total;
    total = keep(tidy(() => stem.toInput(atStem, inputs.shape)));
    atStem.release();
    return total;
  } catch (e) {
    total?.release();
    throw e;
  } finally {
    alpha.release();
    weight.release();
  }
}

/** Sum over every dimension but the batch: [N, ...] -> [N]. */
export function sumRows(t: Tensor): Tensor {
  return ops.sumAxisRaw(t, t.shape[0], t.size / t.shape[0], 1, 1, [t.shape[0]]);
}

/**
 * Convergence delta as Captum: sum of attributions per example minus (F(x) - F(baseline)) at the
 * target; for an exact integral it is zero.
 */
export function convergenceDelta(forward: (x: Tensor) => Tensor, attributions: Tensor, inputs: Tensor, baseline: Tensor, targets: number[]): Tensor {
  return tidy(() => noGrad(() => ops.sub(sumRows(attributions), ops.sub(scores(forward, inputs, targets), scores(forward, baseline, targets)))));
}

/** Captum's IntegratedGradients: (x - b) times the path integral of the gradient from the baseline b to x. */
export class IntegratedGradients {
  private forward: (x: Tensor) => Tensor;
  constructor(private forwardFunc: ForwardFunc, readonly multiplyByInputs = true) {
    this.forward = asFunction(forwardFunc);
  }

  attribute(inputs: Tensor, opts: IntegratedGradientsOptions & { returnConvergenceDelta: true }): Promise<[Tensor, Tensor]>;
  attribute(inputs: Tensor, opts?: IntegratedGradientsOptions): Promise<Tensor>;
  async attribute(inputs: Tensor, opts: IntegratedGradientsOptions = {}): Promise<Tensor | [Tensor, Tensor]> {
    checkImageBatch(inputs, 'IntegratedGradients');
    const { nSteps = 50, method = 'gausslegendre', internalBatchSize } = opts;
    const { alphas, stepSizes } = approximationParameters(method, nSteps);
    const targets = await resolveTargets(this.forward, inputs, opts.target, 'IntegratedGradients');
    const baseline = keep(baselineTensor(inputs, opts.baselines, 'IntegratedGradients'));
    try {
      const rows = await rowsPerPass(this.forward, this.forwardFunc, inputs, internalBatchSize, true, 'IntegratedGradients: internalBatchSize');
      const total = await integratePathGradients(this.forward, inputs, baseline, targets, alphas, stepSizes, rows, opts.onProgress, linearStem(this.forwardFunc));
      const attributions = this.multiplyByInputs ? tidy(() => ops.mul(total, ops.sub(inputs, baseline))) : unkeep(total);
      if (attributions !== total) total.release();
      if (!opts.returnConvergenceDelta) return attributions;
      return [attributions, convergenceDelta(this.forward, attributions, inputs, baseline, targets)];
    } finally {
      baseline.release();
    }
  }
}
