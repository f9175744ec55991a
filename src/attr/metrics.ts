/**
 * Captum's attribution metrics (captum.metrics): infidelity and sensitivity_max, with Captum's
 * semantics, arguments and defaults. The perturbed copies of each example run batched on the GPU
 * (`nPerturbSamples` of them, split by `maxExamplesPerBatch`); only the per-example sums come back.
 */
import { type Tensor, fromArray, keep, noGrad, tidy } from '../autograd/index.ts';
import * as ops from '../autograd/ops/index.ts';
import { type ForwardFunc, type Target, asFunction, checkImageBatch, resolveTargets } from './common.ts';
import { uniformRandoms } from './noise.ts';

/** torch.repeat_interleave(x, times, dim=0): each example `times` times in a row. */
export function repeatInterleave(x: Tensor, times: number): Tensor {
  const [N, ...rest] = x.shape;
  return ops.reshape(ops.expand(ops.reshape(x, [N, 1, ...rest]), [N, times, ...rest]), [N * times, ...rest]);
}

/** Each example's target `times` times in a row (Captum's repeat_interleave expansion). */
const interleaveTargets = (targets: number[], times: number) => targets.flatMap((t) => new Array(times).fill(t));

/**
 * Captum's _divide_and_aggregate_metrics: the samples in chunks of floor(maxExamplesPerBatch / N)
 * when that is at least 1 and fewer than all of them, else all at once.
 */
function sampleChunks(N: number, samples: number, maxExamplesPerBatch: number | undefined): number[] {
  const per = maxExamplesPerBatch === undefined ? 0 : Math.floor(maxExamplesPerBatch / N);
  if (per < 1 || maxExamplesPerBatch! >= N * samples) return [samples];
  const out: number[] = [];
  for (let left = samples; left > 0; left -= per) out.push(Math.min(per, left));
  return out;
}

/** Captum's safe_div: a zero denominator counts as `fallback`. */
const safeDiv = (n: number, d: number, fallback = 1) => n / (d !== 0 ? d : fallback);

/**
 * An infidelity perturbation: from the inputs repeated `nPerturbSamples` times each ([N * S, ...]) and
 * the baselines (expanded likewise when they hold one per example), the perturbations I and the
 * perturbed inputs x - I, as Captum's `perturb_func` returns them.
 */
export type InfidelityPerturbFunc = (inputs: Tensor, baselines?: Tensor) => [Tensor, Tensor] | Promise<[Tensor, Tensor]>;

/**
 * Captum's infidelity_perturb_func_decorator: a function that returns only the perturbed inputs, made
 * into an InfidelityPerturbFunc; the perturbation is x - x' (or, with `multiplyByInputs`, divided by
 * x - baseline, or by x without baselines; a zero denominator counts as 1).
 */
export function infidelityPerturbFuncDecorator(multiplyByInputs: boolean) {
  return (perturb: (inputs: Tensor, baselines?: Tensor) => Tensor | Promise<Tensor>): InfidelityPerturbFunc => async (inputs, baselines) => {
    const perturbed = await perturb(inputs, baselines);
    const diff = ops.sub(inputs, perturbed);
    if (!multiplyByInputs) return [diff, perturbed];
    const denom = baselines ? ops.sub(inputs, baselines) : inputs;
    // safe_div with default_denom 1: where the denominator is 0, divide by 1.
    const host = await denom.data();
    const fixed = fromArray(inputs.ctx, host.map((v) => (v === 0 ? 1 : v)), denom.shape);
    return [ops.div(diff, fixed), perturbed];
  };
}

export interface InfidelityOptions {
  /** Passed to the perturbation; a tensor of one baseline per example is expanded with the inputs. */
  baselines?: Tensor;
  /** Class per example (default: each example's top prediction). */
  target?: Target;
  nPerturbSamples?: number;
  /** Perturbed examples per forward pass (default: all N * nPerturbSamples at once, as Captum). */
  maxExamplesPerBatch?: number;
  /** Scale the attributions by the least-squares beta before scoring (Captum's `normalize`). */
  normalize?: boolean;
}

/**
 * Captum's infidelity: for each example, the mean over perturbations I of (sum(attr * I) - (F(x) - F(x - I)))^2,
 * F the target's score; with `normalize`, the attributions are first scaled by the beta that minimizes
 * it. Returns [N].
 */
export async function infidelity(forwardFunc: ForwardFunc, perturbFunc: InfidelityPerturbFunc, inputs: Tensor, attributions: Tensor, opts: InfidelityOptions = {}): Promise<Float32Array> {
  checkImageBatch(inputs, 'infidelity');
  if (attributions.shape.join() !== inputs.shape.join()) throw new Error(`infidelity: attributions [${attributions.shape.join(', ')}] must have the inputs' shape [${inputs.shape.join(', ')}]`);
  const { nPerturbSamples: S = 10, normalize = false } = opts;
  if (!Number.isInteger(S) || S < 1) throw new Error(`infidelity: nPerturbSamples must be a positive integer, got ${S}`);
  const forward = asFunction(forwardFunc), N = inputs.shape[0];
  const targets = await resolveTargets(forward, inputs, opts.target, 'infidelity');
  const sums = { a2: new Float64Array(N), ad: new Float64Array(N), d2: new Float64Array(N), err: new Float64Array(N) };
  for (const s of sampleChunks(N, S, opts.maxExamplesPerBatch)) {
    const [attrTimesPerturb, diffs] = await tidy(async () => {
      const xs = repeatInterleave(inputs, s);
      const bs = opts.baselines && opts.baselines.shape[0] === N && N > 1 ? repeatInterleave(opts.baselines, s) : opts.baselines;
      const [perturbations, perturbed] = await perturbFunc(xs, bs);
      if (perturbations.shape.join() !== perturbed.shape.join() || perturbed.shape.join() !== xs.shape.join()) {
        throw new Error(`infidelity: the perturbation function gave perturbations [${perturbations.shape.join(', ')}] and perturbed inputs [${perturbed.shape.join(', ')}] for inputs [${xs.shape.join(', ')}]; all three must match`);
      }
      const { a, d } = noGrad(() => {
        const fPerturbed = ops.selectTargets(forward(perturbed), interleaveTargets(targets, s));
        const fInputs = repeatInterleave(ops.reshape(ops.selectTargets(forward(inputs), targets), [N, 1]), s);
        const rest = xs.shape.slice(1).map((_, i) => i + 1);
        return { a: ops.sum(ops.mul(repeatInterleave(attributions, s), perturbations), rest), d: ops.sub(ops.reshape(fInputs, [N * s]), fPerturbed) };
      });
      return [await a.data(), await d.data()];
    });
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < s; k++) {
        const a = attrTimesPerturb[n * s + k], d = diffs[n * s + k];
        sums.a2[n] += a * a; sums.ad[n] += a * d; sums.d2[n] += d * d; sums.err[n] += (a - d) ** 2;
      }
    }
  }
  return Float32Array.from({ length: N }, (_, n) => {
    if (!normalize) return sums.err[n] / S;
    const beta = safeDiv(sums.ad[n], sums.a2[n]);
    return (beta * beta * sums.a2[n] - 2 * beta * sums.ad[n] + sums.d2[n]) / S;
  });
}

/** An explanation to score: attributions for inputs, given the options sensitivityMax passes through. */
export type ExplanationFunc = (inputs: Tensor, opts: Record<string, unknown>) => Promise<Tensor>;

export interface SensitivityMaxOptions {
  /** Perturbed inputs from the inputs repeated nPerturbSamples times each (default: uniform noise in [-r, r]). */
  perturbFunc?: (inputs: Tensor, perturbRadius: number) => Tensor | Promise<Tensor>;
  perturbRadius?: number;
  nPerturbSamples?: number;
  /** The norm of the explanations' differences: 'fro' (L2, Captum's default), or p = 1, 2, Infinity. */
  normOrd?: 'fro' | number;
  maxExamplesPerBatch?: number;
  /** The default perturbation's random draws (Glimpse's; Captum's are torch's). */
  seed?: number;
  /** Passed to the explanation; a per-example target list and a per-example baseline tensor are expanded with the inputs. */
  [explanationOption: string]: unknown;
}

/** Norms of each row of x [M, ...] as Captum's torch.norm(p=normOrd, dim=1). */
async function rowNorms(x: Tensor, ord: 'fro' | number): Promise<Float64Array> {
  const rest = x.shape.slice(1).map((_, i) => i + 1), M = x.shape[0];
  if (ord === Infinity) return Float64Array.from(await ops.maxAlong(ops.reshape(ops.abs(x), [M, x.size / M]), 1).data());
  if (ord === 1) return Float64Array.from(await ops.sum(ops.abs(x), rest).data());
  if (ord === 'fro' || ord === 2) return Float64Array.from(await ops.sum(ops.mul(x, x), rest).data(), Math.sqrt);
  throw new Error(`sensitivityMax: normOrd must be 'fro', 1, 2 or Infinity, got ${JSON.stringify(ord)}`);
}

/**
 * Captum's sensitivity_max: for each example, the largest change of its explanation over perturbed
 * copies of the input, ||e(x) - e(x')|| / ||e(x)|| (a zero norm counts as 1). Returns [N].
 */
export async function sensitivityMax(explanationFunc: ExplanationFunc, inputs: Tensor, opts: SensitivityMaxOptions = {}): Promise<Float32Array> {
  checkImageBatch(inputs, 'sensitivityMax');
  const { perturbFunc, perturbRadius = 0.02, nPerturbSamples: S = 10, normOrd = 'fro', maxExamplesPerBatch, seed = 0, ...kwargs } = opts;
  if (!Number.isInteger(S) || S < 1) throw new Error(`sensitivityMax: nPerturbSamples must be a positive integer, got ${S}`);
  const N = inputs.shape[0];
  let drawn = 0;
  const perturb = perturbFunc ?? ((x: Tensor, r: number) => {
    const u = uniformRandoms(seed + drawn++, x.size);
    return ops.add(x, fromArray(x.ctx, u.map((v) => (2 * v - 1) * r), x.shape));
  });
  const explanation = keep(await tidy(() => explanationFunc(inputs, kwargs)));
  try {
    const base = await tidy(() => rowNorms(explanation, normOrd));
    const best = new Float64Array(N).fill(-Infinity);
    for (const s of sampleChunks(N, S, maxExamplesPerBatch)) {
      const norms = await tidy(async () => {
        const expanded: Record<string, unknown> = { ...kwargs };
        if (Array.isArray(kwargs.target) && kwargs.target.length === N) expanded.target = interleaveTargets(kwargs.target as number[], s);
        const b = kwargs.baselines as Tensor | undefined;
        if (b && typeof b === 'object' && 'shape' in b && b.shape.join() === inputs.shape.join()) expanded.baselines = repeatInterleave(b, s);
        const perturbed = await perturb(repeatInterleave(inputs, s), perturbRadius);
        const e = await explanationFunc(perturbed, expanded);
        return rowNorms(ops.sub(repeatInterleave(explanation, s), e), normOrd);
      });
      for (let n = 0; n < N; n++) for (let k = 0; k < s; k++) best[n] = Math.max(best[n], norms[n * s + k] / (base[n] === 0 ? 1 : base[n]));
    }
    return Float32Array.from(best);
  } finally {
    explanation.release();
  }
}
