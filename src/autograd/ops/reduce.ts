import { record } from '../grad.ts';
import { Tensor, sizeOf } from '../tensor.ts';
import { broadcastTo } from './shape.ts';
import { reshape } from './layout.ts';
import { grid, launch } from './launch.ts';

const REDUCE = { name: 'reduce_sum', file: 'reduce', inputs: 1, outputs: 1 } as const;

/** alpha * sum over the middle axis of x viewed as [outer, axis, inner]. */
export function sumAxisRaw(x: Tensor, outer: number, axis: number, inner: number, alpha = 1, shape?: readonly number[]): Tensor {
  return launch(REDUCE, [x], shape ?? [outer, inner], { ints: [outer, axis, inner], floats: [alpha], workgroups: grid(x.ctx, outer * inner) });
}

function normalizeDims(x: Tensor, dims: number | number[] | undefined): number[] {
  const list = dims === undefined ? x.shape.map((_, i) => i) : Array.isArray(dims) ? dims : [dims];
  const out = [...new Set(list.map((d) => (d < 0 ? d + x.rank : d)))].sort((a, b) => a - b);
  for (const d of out) if (d < 0 || d >= x.rank) throw new Error(`sum: dimension ${d} out of range for shape [${x.shape.join(', ')}]`);
  return out;
}

/** Sum over `dims` (all by default), times alpha; keepDim as in PyTorch. Runs of adjacent dims are reduced in one pass. */
function reduceDims(x: Tensor, dims: number[], alpha: number, keepDim: boolean): Tensor {
  const outShape = x.shape.map((d, i) => (dims.includes(i) ? 1 : d));
  let cur = x;
  let curShape = [...x.shape];
  let i = 0;
  let first = true;
  while (i < curShape.length) {
    if (!dims.includes(i)) { i++; continue; }
    let j = i;
    while (j + 1 < curShape.length && dims.includes(j + 1)) j++;
    const outer = sizeOf(curShape.slice(0, i)), axis = sizeOf(curShape.slice(i, j + 1)), inner = sizeOf(curShape.slice(j + 1));
    const nextShape = curShape.map((d, k) => (k >= i && k <= j ? 1 : d));
    const next = sumAxisRaw(cur, outer, axis, inner, first ? alpha : 1, nextShape);
    if (cur !== x) cur.release();
    cur = next;
    curShape = nextShape;
    first = false;
    i = j + 1;
  }
  if (cur === x) cur = sumAxisRaw(x, x.size, 1, 1, alpha, x.shape); // no dims: a scaled copy
  const finalShape = keepDim ? outShape : x.shape.filter((_, k) => !dims.includes(k));
  return cur.reshapeInto(finalShape.length ? finalShape : [1]);
}

export function sum(x: Tensor, dims?: number | number[], keepDim = false): Tensor {
  const ds = normalizeDims(x, dims);
  const y = reduceDims(x, ds, 1, keepDim);
  return record(y, 'sum', [x], (g) => [broadcastTo(g.view(x.shape.map((d, i) => (ds.includes(i) ? 1 : d))), x.shape)]);
}

export function mean(x: Tensor, dims?: number | number[], keepDim = false): Tensor {
  const ds = normalizeDims(x, dims);
  const n = ds.reduce((a, d) => a * x.shape[d], 1);
  const y = reduceDims(x, ds, 1 / n, keepDim);
  return record(y, 'mean', [x], (g) => {
    const b = broadcastTo(g.view(x.shape.map((d, i) => (ds.includes(i) ? 1 : d))), x.shape, 1 / n);
    return [b];
  });
}

/** Expands size-1 dimensions to `shape` (same rank), as torch's expand; the gradient sums them back. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  if (shape.length === x.rank && shape.every((d, i) => d === x.shape[i])) return reshape(x, shape);
  const dims = x.shape.map((d, i) => (d === 1 && shape[i] !== 1 ? i : -1)).filter((d) => d >= 0);
  return record(broadcastTo(x, shape), 'expand', [x], (g) => [reduceDims(g, dims, 1, true)]);
}

/**
 * The maximum along one dimension, as torch.max(x, dim)[0] (ONNX ReduceMax over one axis): the
 * gradient goes to the first maximum of each slice (a NaN wins), not split between ties as amax's.
 */
export function maxAlong(x: Tensor, dim: number, keepDim = false): Tensor {
  const d = dim < 0 ? dim + x.rank : dim;
  if (d < 0 || d >= x.rank) throw new Error(`maxAlong: dimension ${dim} out of range for shape [${x.shape.join(', ')}]`);
  const outer = sizeOf(x.shape.slice(0, d)), axis = x.shape[d], inner = sizeOf(x.shape.slice(d + 1));
  if (axis === 0) throw new Error(`maxAlong: dimension ${dim} of [${x.shape.join(', ')}] is empty`);
  const shape = keepDim ? x.shape.map((s, i) => (i === d ? 1 : s)) : x.shape.filter((_, i) => i !== d);
  const y = new Tensor(x.ctx, shape.length ? shape : [1]), arg = new Tensor(x.ctx, y.shape);
  x.ctx.dispatch({ name: 'max_along', file: 'max', inputs: 1, outputs: 2, defines: { FORWARD: true } },
    { inputs: [x.buffer], outputs: [y.buffer, arg.buffer], ints: [outer, axis, inner], workgroups: grid(x.ctx, outer * inner) });
  if (!record(y, 'max_along', [x], (g) => [launch({ name: 'max_along_backward', file: 'max', inputs: 2, outputs: 1, defines: { FORWARD: false } },
    [g, arg], x.shape, { ints: [outer, axis, inner], workgroups: grid(x.ctx, x.size) })]).node) arg.release();
  return y;
}
