import type { GpuContext } from '../gpu/device.ts';
import { Tensor, grad, noGrad, tidy, keep } from '../autograd/index.ts';
import * as ops from '../autograd/ops/index.ts';
import { Module } from '../nn/module.ts';

/** What is explained: a module (its `call`) or any function from an input batch to scores [N, classes]. */
export type ForwardFunc = Module | ((x: Tensor) => Tensor);

/** Called as batches complete, for progress bars: `done` of `total` units (steps, windows, samples). */
export type ProgressCallback = (done: number, total: number) => void;

/** One class for every example, one per example, or (undefined) each example's top-1 prediction. */
export type Target = number | number[] | undefined;

export function asFunction(f: ForwardFunc): (x: Tensor) => Tensor {
  return f instanceof Module ? (x) => f.call(x) : f;
}

export function checkImageBatch(inputs: Tensor, method: string): void {
  if (!(inputs instanceof Tensor)) throw new Error(`${method}: inputs must be a Tensor`);
  if (inputs.rank < 2) throw new Error(`${method}: inputs must have a batch dimension, got shape [${inputs.shape.join(', ')}]`);
  if (inputs.shape[0] === 0) throw new Error(`${method}: inputs hold no examples (batch 0)`);
}

/** torch.argmax of a row: the first maximum, and the first NaN where there is one. */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let c = 1; c < row.length; c++) {
    const v = row[c], b = row[best];
    if (Number.isNaN(b)) break;
    if (v > b || Number.isNaN(v)) best = c;
  }
  return best;
}

/** The class index of each example: validated, expanded to the batch, or the model's top-1 when undefined. */
export async function resolveTargets(forward: (x: Tensor) => Tensor, inputs: Tensor, target: Target, method: string): Promise<number[]> {
  const N = inputs.shape[0];
  if (target === undefined) {
    const scores = await tidy(async () => noGrad(() => forward(inputs)).data());
    const C = scores.length / N;
    return Array.from({ length: N }, (_, n) => argmax(scores.subarray(n * C, (n + 1) * C)));
  }
  const list = typeof target === 'number' ? new Array(N).fill(target) : target;
  if (!Array.isArray(list) || list.length !== N) {
    throw new Error(`${method}: target must be one class index or one per example (${N}), got ${JSON.stringify(target)}`);
  }
  for (const t of list) if (!Number.isInteger(t) || t < 0) throw new Error(`${method}: target ${t} is not a class index`);
  return list;
}

/** Repeats each of the per-example targets `times` times, in the order the expanded batches use (example fastest). */
export function repeatTargets(targets: number[], times: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < times; r++) out.push(...targets);
  return out;
}

/** The selected scores F(x)[n, target[n]] for a batch, without a graph. */
export function scores(forward: (x: Tensor) => Tensor, x: Tensor, targets: number[]): Tensor {
  return noGrad(() => ops.selectTargets(forward(x), targets));
}

/**
 * d sum_n F(x)[n, target[n]] / d x, for a batch, plus (optionally) the selected scores. The input is
 * copied into a fresh leaf so the caller's tensor never joins a graph, unless `xIsOwn` says that x
 * was made for this call alone (it becomes the leaf).
 */
export function gradientOfTargets(forward: (x: Tensor) => Tensor, x: Tensor, targets: number[], xIsOwn = false): { grads: Tensor; selected: Tensor } {
  const leaf = xIsOwn ? x : ops.affine(x, 1, 0);
  leaf.requiresGrad = true;
  const selected = ops.selectTargets(forward(leaf), targets);
  const [grads] = grad(selected, [leaf]);
  return { grads, selected };
}

/**
 * How many examples a forward and backward pass should take at once, from the device limits: the
 * largest single tensor of one example must fit a storage binding (128 MiB on lavapipe), and the
 * graph kept for the backward pass must fit a memory budget. Measured once per model and input size
 * with a single-example forward pass.
 */
const footprints = new WeakMap<object, Map<string, { largest: number; retained: number }>>();
export async function autoBatchSize(ctx: GpuContext, forward: (x: Tensor) => Tensor, key: object, example: Tensor, withGrad: boolean, budgetBytes = 3 * 2 ** 30): Promise<number> {
  const shapeKey = example.shape.join('x');
  let perModel = footprints.get(key);
  if (!perModel) footprints.set(key, (perModel = new Map()));
  let f = perModel.get(shapeKey);
  if (!f) {
    await ctx.sync();
    const before = ctx.pool.liveBytes;
    ctx.pool.peakAcquire = 0;
    tidy(() => {
      const leaf = ops.affine(example, 1, 0);
      leaf.requiresGrad = true;
      forward(leaf);
      f = { largest: ctx.pool.peakAcquire, retained: ctx.pool.liveBytes - before };
    });
    perModel.set(shapeKey, f!);
  }
  const { largest, retained } = f!;
  const byBinding = Math.floor(ctx.limits.maxStorageBufferBindingSize / Math.max(largest, 1));
  const byMemory = Math.floor(budgetBytes / Math.max(withGrad ? retained : largest * 3, 1));
  return Math.max(1, Math.min(byBinding, byMemory, 64));
}

/**
 * Rows (examples x steps or perturbations) per pass: `given` when the caller set it (validated),
 * otherwise sized by autoBatchSize from the first example.
 */
export async function rowsPerPass(forward: (x: Tensor) => Tensor, key: object, inputs: Tensor, given: number | undefined, withGrad: boolean, option: string): Promise<number> {
  if (given !== undefined) {
    if (!(Number.isInteger(given) && given > 0)) throw new Error(`${option} must be a positive integer, got ${given}`);
    return given;
  }
  const example = tidy(() => keep(ops.sliceBatch(inputs, 0, 1)));
  try {
    return await autoBatchSize(inputs.ctx, forward, key, example, withGrad);
  } finally {
    example.release();
  }
}

