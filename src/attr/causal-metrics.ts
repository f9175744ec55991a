/**
 * The deletion and insertion metrics of Petsiuk et al. (RISE, 2018): pixels are removed from the image
 * (deletion) or revealed over a blurred copy (insertion) in the order of their attribution, a fixed
 * number per step, and the target's probability is integrated over the steps. A good explanation makes
 * the deletion curve fall fast (a low AUC) and the insertion curve rise fast (a high AUC). Every step's
 * image is made on the GPU from a rank map (mask = clip(k - rank, 0, 1)); the steps run batched.
 */
import { type Tensor, fromArray, noGrad, tidy } from '../autograd/index.ts';
import * as ops from '../autograd/ops/index.ts';
import { type ForwardFunc, type Target, asFunction, resolveTargets } from './common.ts';

export interface CausalMetricOptions {
  /** Class per example (default: each example's top prediction, as RISE). */
  target?: Target;
  /** Pixels changed per step (default: the image's width, RISE's choice: as many steps as rows). */
  pixelsPerStep?: number;
  /**
   * Deletion: what removed pixels become (default 'zero', RISE's); insertion: the image it starts from
   * (default 'blur', RISE's: an 11x11 Gaussian of sigma 5). Or a tensor of the inputs' shape.
   */
  baseline?: 'zero' | 'blur' | Tensor;
  /** Step images per forward pass (default 16). */
  batchSize?: number;
  /** Scores from the model's output (default: softmax, the target's probability). */
  scoreFunc?: (output: Tensor) => Tensor;
}

export interface CausalMetricResult {
  /** Per example, the area under its curve, with the steps spread over [0, 1] (RISE's trapezoid rule). */
  auc: Float32Array;
  /** Per example, the target's score before the first step and after each one. */
  curves: Float32Array[];
}

/** RISE's auc: the trapezoid rule over points evenly spread on [0, 1]. */
export function curveAuc(curve: ArrayLike<number>): number {
  const n = curve.length;
  if (n < 2) throw new Error('a curve needs two points at least');
  let s = 0;
  for (let i = 0; i < n; i++) s += curve[i];
  return (s - curve[0] / 2 - curve[n - 1] / 2) / (n - 1);
}

/**
 * RISE's blur kernel: scipy's gaussian_filter (sigma 5, truncated at 4 sigma, 'reflect' edges) of an
 * 11x11 impulse, as one separable 1-D factor.
 */
export function riseBlurKernel(size = 11, sigma = 5): number[] {
  const radius = Math.round(4 * sigma), w = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-0.5 * ((i - radius) / sigma) ** 2));
  const total = w.reduce((a, b) => a + b, 0);
  const reflect = (i: number) => {
    const period = 2 * size;
    i = ((i % period) + period) % period;
    return i < size ? i : period - 1 - i;
  };
  const center = Math.floor(size / 2);
  return Array.from({ length: size }, (_, j) => {
    let v = 0;
    for (let t = -radius; t <= radius; t++) if (reflect(j + t) === center) v += w[t + radius] / total;
    return v;
  });
}

/** The inputs blurred channel by channel with RISE's kernel (zero padding, as its conv2d). */
export function riseBlur(x: Tensor): Tensor {
  const [N, C, H, W] = x.shape, k = riseBlurKernel(), K = k.length;
  const w2 = Float32Array.from({ length: K * K }, (_, i) => k[Math.floor(i / K)] * k[i % K]);
  const planes = ops.reshape(x, [N * C, 1, H, W]);
  const y = ops.conv2d(planes, fromArray(x.ctx, w2, [1, 1, K, K]), null, { padding: Math.floor(K / 2) });
  return ops.reshape(y, [N, C, H, W]);
}

/** Pixel ranks by the attribution summed over channels, highest first (ties: the earlier pixel first). */
function pixelRanks(attr: Float32Array, C: number, HW: number): Float32Array {
  const s = new Float64Array(HW);
  for (let c = 0; c < C; c++) for (let p = 0; p < HW; p++) s[p] += attr[c * HW + p];
  const order = Array.from({ length: HW }, (_, p) => p).sort((a, b) => s[b] - s[a] || a - b);
  const rank = new Float32Array(HW);
  order.forEach((p, r) => { rank[p] = r; });
  return rank;
}

async function causalMetric(kind: 'deletion' | 'insertion', forwardFunc: ForwardFunc, inputs: Tensor, attributions: Tensor, opts: CausalMetricOptions): Promise<CausalMetricResult> {
  if (inputs.rank !== 4) throw new Error(`${kind}: inputs must be images [N, C, H, W], got [${inputs.shape.join(', ')}]`);
  const [N, C, H, W] = inputs.shape, HW = H * W;
  const ac = attributions.shape[1];
  if (attributions.rank !== 4 || attributions.shape[0] !== N || (ac !== C && ac !== 1) || attributions.shape[2] !== H || attributions.shape[3] !== W) {
    throw new Error(`${kind}: attributions must be [${N}, ${C} or 1, ${H}, ${W}] (upsample a layer's map to the image first), got [${attributions.shape.join(', ')}]`);
  }
  const step = opts.pixelsPerStep ?? W, B = opts.batchSize ?? 16;
  if (!Number.isInteger(step) || step < 1) throw new Error(`${kind}: pixelsPerStep must be a positive integer, got ${step}`);
  if (!Number.isInteger(B) || B < 1) throw new Error(`${kind}: batchSize must be a positive integer, got ${B}`);
  const baseline = opts.baseline ?? (kind === 'deletion' ? 'zero' : 'blur');
  if (typeof baseline === 'object' && baseline.shape.join() !== inputs.shape.join()) throw new Error(`${kind}: the baseline [${baseline.shape.join(', ')}] must have the inputs' shape [${inputs.shape.join(', ')}]`);
  if (typeof baseline === 'string' && baseline !== 'zero' && baseline !== 'blur') throw new Error(`${kind}: baseline must be 'zero', 'blur' or a tensor, got ${JSON.stringify(baseline)}`);
  const forward = asFunction(forwardFunc), score = opts.scoreFunc ?? ((y: Tensor) => ops.softmax(y));
  const targets = await resolveTargets(forward, inputs, opts.target, kind);
  const attr = await attributions.data();
  const steps = Math.ceil(HW / step), points = Array.from({ length: steps + 1 }, (_, i) => Math.min(i * step, HW));
  const curves: Float32Array[] = [];
  for (let n = 0; n < N; n++) {
    const rank = pixelRanks(attr.subarray(n * ac * HW, (n + 1) * ac * HW), ac, HW);
    const curve = new Float32Array(points.length);
    for (let first = 0; first < points.length; first += B) {
      const ks = points.slice(first, first + B), b = ks.length;
      const scores = await tidy(() => noGrad(() => {
        const x = ops.sliceBatch(inputs, n, n + 1);
        const other = typeof baseline === 'object' ? ops.sliceBatch(baseline, n, n + 1) : baseline === 'zero' ? ops.fill(inputs.ctx, x.shape, 0) : riseBlur(x);
        // Deletion goes from the image to the baseline, insertion from the baseline to the image.
        const [from, to] = kind === 'deletion' ? [x, other] : [other, x];
        const r = ops.expand(fromArray(inputs.ctx, rank, [1, 1, H, W]), [b, 1, H, W]);
        const k = ops.expand(fromArray(inputs.ctx, ks, [b, 1, 1, 1]), [b, 1, H, W]);
        const mask = ops.expand(ops.clip(ops.sub(k, r), 0, 1), [b, C, H, W]);
        const start = ops.expand(from, [b, C, H, W]);
        const images = ops.add(start, ops.mul(mask, ops.expand(ops.sub(to, from), [b, C, H, W])));
        return ops.selectTargets(score(forward(images)), new Array(b).fill(targets[n]));
      }).data());
      curve.set(scores, first);
    }
    curves.push(curve);
  }
  return { auc: Float32Array.from(curves, curveAuc), curves };
}

/** RISE's deletion metric: the target's probability as the most attributed pixels are removed (a low AUC is good). */
export function deletion(forwardFunc: ForwardFunc, inputs: Tensor, attributions: Tensor, opts: CausalMetricOptions = {}): Promise<CausalMetricResult> {
  return causalMetric('deletion', forwardFunc, inputs, attributions, opts);
}

/** RISE's insertion metric: the target's probability as the most attributed pixels are revealed (a high AUC is good). */
export function insertion(forwardFunc: ForwardFunc, inputs: Tensor, attributions: Tensor, opts: CausalMetricOptions = {}): Promise<CausalMetricResult> {
  return causalMetric('insertion', forwardFunc, inputs, attributions, opts);
}
