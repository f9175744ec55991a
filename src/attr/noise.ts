import { Tensor, tidy, keep, grad } from '../autograd/index.ts';
import * as ops from '../autograd/ops/index.ts';
import { grid } from '../autograd/ops/launch.ts';
import { type ForwardFunc, type ProgressCallback, type Target, asFunction, checkImageBatch, repeatTargets, resolveTargets } from './common.ts';

/** Deterministic uniform numbers in [0, 1) for a seed (mulberry32). */
export function uniformRandoms(seed: number, n: number): number[] {
  let a = seed >>> 0;
  return Array.from({ length: n }, () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  });
}

/** `samples` noisy copies of x, sample-major: [samples * N, ...]. */
export function noisyCopies(x: Tensor, samples: number, sample0: number, stdev: number, seed: number): Tensor {
  const out = new Tensor(x.ctx, [samples * x.shape[0], ...x.shape.slice(1)]);
  x.ctx.dispatch({ name: 'gaussian_noise', file: 'noise', inputs: 1, outputs: 1 },
    { inputs: [x.buffer], outputs: [out.buffer], ints: [x.size, samples, sample0, seed | 0], floats: [stdev], workgroups: grid(x.ctx, out.size) });
  return out;
}

/** Any attribution method: NoiseTunnel wraps it and passes its other options through. */
export interface AttributionMethod {
  attribute(inputs: Tensor, opts?: Record<string, unknown>): Promise<Tensor>;
}

export type NoiseTunnelType = 'smoothgrad' | 'smoothgrad_sq' | 'vargrad';

export interface NoiseTunnelOptions {
  ntType?: NoiseTunnelType;
  nSamples?: number;
  /** Standard deviation of the Gaussian noise (default 1.0, as Captum). */
  stdevs?: number;
  /** Samples per call of the wrapped method (default: all at once). */
  nSamplesBatchSize?: number;
  seed?: number;
  target?: Target;
  onProgress?: ProgressCallback;
  /** Other options, passed to the wrapped method. */
  [option: string]: unknown;
}

/**
 * Captum's NoiseTunnel: the wrapped method's attributions on nSamples noisy copies of the input,
 * combined as their mean (smoothgrad), mean of squares (smoothgrad_sq) or variance (vargrad).
 */
export class NoiseTunnel {
  constructor(private method: AttributionMethod, private forwardFunc?: ForwardFunc) {}

  async attribute(inputs: Tensor, opts: NoiseTunnelOptions = {}): Promise<Tensor> {
    checkImageBatch(inputs, 'NoiseTunnel');
    const { ntType = 'smoothgrad', nSamples = 5, stdevs = 1.0, seed = 0, nSamplesBatchSize, target, onProgress, ...rest } = opts;
    if (!['smoothgrad', 'smoothgrad_sq', 'vargrad'].includes(ntType)) throw new Error(`NoiseTunnel: unknown ntType '${ntType}'; use smoothgrad, smoothgrad_sq or vargrad`);
    if (!(Number.isInteger(nSamples) && nSamples > 0)) throw new Error(`NoiseTunnel: nSamples must be a positive integer, got ${nSamples}`);
    if (!(stdevs >= 0)) throw new Error(`NoiseTunnel: stdevs must be >= 0, got ${stdevs}`);
    const N = inputs.shape[0];
    const perCall = nSamplesBatchSize ?? nSamples;
    // Targets are fixed on the clean input (top-1 is not re-decided per noisy copy).
    const targets = target === undefined && this.forwardFunc
      ? await resolveTargets(asFunction(this.forwardFunc), inputs, undefined, 'NoiseTunnel')
      : target === undefined ? undefined : typeof target === 'number' ? new Array(N).fill(target) : target;
    let sum: Tensor | null = null, sumSq: Tensor | null = null;
    try {
      for (let s0 = 0; s0 < nSamples; s0 += perCall) {
        const S = Math.min(perCall, nSamples - s0);
        const noisy = tidy(() => keep(noisyCopies(inputs, S, s0, stdevs, seed)));
        const attr = await this.method.attribute(noisy, { ...rest, target: targets ? repeatTargets(targets, S) : undefined });
        noisy.release();
        const [s, q] = tidy(() => {
          const per = attr.size / attr.shape[0];
          const part = ops.sumAxisRaw(attr, 1, S, N * per, 1, [N, ...attr.shape.slice(1)]);
          const partSq = ops.sumAxisRaw(ops.square(attr), 1, S, N * per, 1, [N, ...attr.shape.slice(1)]);
          return [keep(sum ? ops.add(sum, part) : part), keep(sumSq ? ops.add(sumSq, partSq) : partSq)];
        });
        attr.release();
        sum?.release(); sumSq?.release();
        sum = s; sumSq = q;
        await inputs.ctx.sync();
        onProgress?.(s0 + S, nSamples);
      }
      const mean = (t: Tensor) => ops.scale(t, 1 / nSamples);
      return tidy(() => {
        if (ntType === 'smoothgrad') return mean(sum!);
        if (ntType === 'smoothgrad_sq') return mean(sumSq!);
        return ops.sub(mean(sumSq!), ops.square(mean(sum!)));
      });
    } finally {
      sum?.release();
      sumSq?.release();
    }
  }
}

export interface GradientShapOptions {
  /** The baseline distribution: a tensor [B, ...] of B reference inputs (required, as in Captum). */
  baselines: Tensor;
  nSamples?: number;
  stdevs?: number;
  target?: Target;
  seed?: number;
}

/**
 * Captum's GradientShap: for nSamples draws of (noise on the input, a baseline b from the distribution,
 * alpha ~ U(0, 1)), the gradient at b + alpha (x' - b) times (x' - b), averaged. Expected gradients,
 * an approximation of SHAP values.
 */
export class GradientShap {
  private forward: (x: Tensor) => Tensor;
  constructor(forwardFunc: ForwardFunc, readonly multiplyByInputs = true) {
    this.forward = asFunction(forwardFunc);
  }

  async attribute(inputs: Tensor, opts: GradientShapOptions): Promise<Tensor> {
    checkImageBatch(inputs, 'GradientShap');
    const { baselines, nSamples = 5, stdevs = 0, seed = 0 } = opts ?? ({} as GradientShapOptions);
    if (!(baselines instanceof Tensor) || baselines.rank !== inputs.rank || baselines.shape.slice(1).some((d, i) => d !== inputs.shape[i + 1])) {
      throw new Error(`GradientShap: baselines must be a tensor [B, ${inputs.shape.slice(1).join(', ')}] of reference inputs`);
    }
    if (!(Number.isInteger(nSamples) && nSamples > 0)) throw new Error(`GradientShap: nSamples must be a positive integer, got ${nSamples}`);
    const N = inputs.shape[0], B = baselines.shape[0];
    const targets = await resolveTargets(this.forward, inputs, opts.target, 'GradientShap');
    const draws = uniformRandoms(seed + 1, 2 * nSamples * N);
    return tidy(() => {
      const noisy = noisyCopies(inputs, nSamples, 0, stdevs, seed); // [S * N, ...]
      // One baseline and one alpha per (sample, example) row.
      const rows = Array.from({ length: nSamples * N }, (_, r) => {
        const b = Math.min(B - 1, Math.floor(draws[2 * r] * B));
        return ops.sliceBatch(baselines, b, b + 1);
      });
      const base = ops.concat(rows);
      const alpha = ops.broadcastTo(ops.fromArray(inputs.ctx, Array.from({ length: nSamples * N }, (_, r) => draws[2 * r + 1]), [nSamples * N, ...inputs.shape.slice(1).map(() => 1)]), noisy.shape);
      const diff = ops.sub(noisy, base);
      const leaf = ops.add(base, ops.mul(alpha, diff));
      leaf.requiresGrad = true;
      const [g] = grad(ops.selectTargets(this.forward(leaf), repeatTargets(targets, nSamples)), [leaf]);
      const attr = this.multiplyByInputs ? ops.mul(g, diff) : g;
      return ops.sumAxisRaw(attr, 1, nSamples, inputs.size, 1 / nSamples, inputs.shape);
    });
  }
}
