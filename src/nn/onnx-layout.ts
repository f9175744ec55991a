/** ONNX's layout ops on GPU tensors of any rank: reshapes (no copy), permutes, slices and their relatives, each with its gradient. */
import { Tensor, sizeOf } from '../autograd/tensor.ts';
import * as ops from '../autograd/ops/index.ts';
import type { OnnxNode } from '../io/onnx.ts';
import { slicePlan } from './onnx-host.ts';
import { type GpuOp, type OpEnv, type Value, attr, hostIn, ints, isHost, tensorIn } from './onnx-values.ts';

function concatOp(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const xs = inputs.map((v, i) => tensorIn(v, node, env, i));
  const rank = xs[0].rank;
  const axis = (attr(node, 'axis', 0) + rank) % rank;
  if (axis === 0) return [ops.concat(xs)];
  // Along another axis: bring it to the front, concatenate, and move it back.
  const { perm, back } = moveAxis(rank, axis, 'first');
  return [ops.permute(ops.concat(xs.map((t) => ops.permute(t, perm))), back)];
}

/** The permutation that moves `axis` first (or last), the others keeping their order, and its inverse. */
export function moveAxis(rank: number, axis: number, to: 'first' | 'last'): { perm: number[]; back: number[] } {
  const others = Array.from({ length: rank }, (_, i) => i).filter((i) => i !== axis);
  const perm = to === 'first' ? [axis, ...others] : [...others, axis];
  return { perm, back: perm.map((_, i) => perm.indexOf(i)) };
}

function flattenOp(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  const axis = (attr(node, 'axis', 1) + x.rank) % Math.max(x.rank, 1);
  return [ops.reshape(x, [sizeOf(x.shape.slice(0, axis)), sizeOf(x.shape.slice(axis))])];
}

/** Reshape to a constant shape (0 copies the input's size, -1 is inferred). A leading 1 where the batch is N > 1 becomes N: exporters pin batch 1 in constants. */
function reshapeOp(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  const target = ints(hostIn(inputs[1], node, 1)).map((d, i) => (d === 0 && !attr(node, 'allowzero', 0) ? x.shape[i] : d));
  if (target[0] === 1 && x.shape[0] > 1 && target.includes(-1) === false && sizeOf(target) * x.shape[0] === x.size) target[0] = x.shape[0];
  return [ops.reshape(x, target)];
}

function transposeOp(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  const perm = attr<number[]>(node, 'perm', Array.from({ length: x.rank }, (_, i) => x.rank - 1 - i));
  return [ops.permute(x, perm)];
}

function axesOf(inputs: (Value | null)[], node: OnnxNode, env: OpEnv, rank: number): number[] | undefined {
  const a = env.opset >= 13 && inputs[1] !== undefined && inputs[1] !== null ? ints(hostIn(inputs[1], node, 1)) : (node.attributes.get('axes') as number[] | undefined);
  return a?.map((d) => (d + rank) % rank);
}

function squeezeOp(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  const axes = axesOf(inputs, node, env, x.rank) ?? x.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
  return [ops.reshape(x, x.shape.filter((_, i) => !axes.includes(i)))];
}

function unsqueezeOp(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  const out = x.rank + (axesOf(inputs, node, env, 1e9)?.length ?? 0);
  const axes = (axesOf(inputs, node, env, out) ?? []).sort((a, b) => a - b);
  const shape = [...x.shape];
  for (const a of axes) shape.splice(a, 0, 1);
  return [ops.reshape(x, shape)];
}


/** Split along an axis into the given sizes (an input from opset 13, an attribute before), or equal parts. */
function splitOp(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  const axis = (attr(node, 'axis', 0) + x.rank) % x.rank, n = node.outputs.length;
  const given = env.opset >= 13 ? ints(hostIn(inputs[1] ?? null, node, 1)) : attr<number[]>(node, 'split', []);
  const sizes = given.length ? given : new Array(n).fill(x.shape[axis] / n);
  if (sizes.length !== n || sizes.reduce((a, b) => a + b, 0) !== x.shape[axis] || sizes.some((s) => !Number.isInteger(s))) {
    throw new Error(`Split node '${node.name}': sizes [${sizes.join(', ')}] do not split dimension ${axis} of [${x.shape.join(', ')}] into ${n}`);
  }
  let start = 0;
  return sizes.map((s) => {
    const part = sliceAlong(x, axis, start, 1, s);
    start += s;
    return part;
  });
}

/** `count` elements of `axis` from `start` by `step`, the other dimensions whole. */
function sliceAlong(x: Tensor, axis: number, start: number, step: number, count: number): Tensor {
  if (axis === 0 && step === 1) return ops.sliceBatch(x, start, start + count);
  return ops.slice(x, x.shape.map((_, d) => (d === axis ? start : 0)), x.shape.map((_, d) => (d === axis ? step : 1)), x.shape.map((n, d) => (d === axis ? count : n)));
}

/** Slice with constant starts, ends, axes and steps (inputs from opset 10, attributes before). */
function sliceOp(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  const given = (i: number, name: string) => (env.opset >= 10 ? (inputs[i] ? ints(hostIn(inputs[i], node, i)) : null) : (node.attributes.get(name) as number[] | undefined) ?? null);
  const starts = given(1, 'starts'), ends = given(2, 'ends');
  if (!starts || !ends) throw new Error(`Slice node '${node.name}': starts and ends are needed`);
  const plan = slicePlan(x.shape, starts, ends, given(3, 'axes'), env.opset >= 10 ? given(4, 'steps') : null);
  if (plan.every((p, d) => p.start === 0 && p.step === 1 && p.count === x.shape[d])) return [ops.reshape(x, x.shape)];
  return [ops.slice(x, plan.map((p) => p.start), plan.map((p) => p.step), plan.map((p) => p.count))];
}

/** Expand: NumPy broadcasting of the input against a constant shape (either may have the larger rank). */
function expandOp(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0), target = ints(hostIn(inputs[1], node, 1));
  let shape: number[];
  try {
    shape = ops.broadcastShapes(x.shape, target);
  } catch {
    throw new Error(`Expand node '${node.name}': [${x.shape.join(', ')}] does not broadcast to [${target.join(', ')}]`);
  }
  return [ops.expandTo(x, shape)];
}

/**
 * Gather: from a constant float table along axis 0 by computed indices (an embedding lookup; Glimpse
 * takes token ids as float32 values), or from a computed tensor by constant indices along any axis
 * (ViT's x[:, 0]): slices along the axis, stacked in the indices' shape.
 */
function gatherOp(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const data = inputs[0], idx = inputs[1];
  if (isHost(data)) {
    if (data.dtype !== 'float32' || attr(node, 'axis', 0) !== 0) throw new Error(`Gather node '${node.name}': a lookup in a constant table runs on the GPU only along axis 0 of float values (an embedding)`);
    return [ops.gatherRows(env.upload(data), tensorIn(idx, node, env, 1))];
  }
  if (!data) throw new Error(`Gather node '${node.name}': input 0 is missing`);
  if (!isHost(idx)) throw new Error(`Gather node '${node.name}': indices computed on the GPU into a computed tensor are not supported; only constant indices (or a constant table)`);
  const axis = (attr(node, 'axis', 0) + data.rank) % data.rank, n = data.shape[axis];
  const at = ints(idx).map((k) => (k < 0 ? k + n : k));
  if (at.some((k) => k < 0 || k >= n)) throw new Error(`Gather node '${node.name}': indices [${ints(idx).join(', ')}] out of range for dimension ${axis} of [${data.shape.join(', ')}]`);
  const parts = at.map((k) => sliceAlong(data, axis, k, 1, 1));
  let y = parts[0];
  if (parts.length > 1) {
    const { perm, back } = moveAxis(data.rank, axis, 'first');
    y = axis === 0 ? ops.concat(parts) : ops.permute(ops.concat(parts.map((t) => ops.permute(t, perm))), back);
  }
  return [ops.reshape(y, [...data.shape.slice(0, axis), ...idx.dims, ...data.shape.slice(axis + 1)])];
}

/** Tile by constant repeats: each dimension d becomes [repeats[d], d], expanded, then merged. */
function tileOp(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0), reps = ints(hostIn(inputs[1], node, 1));
  if (reps.length !== x.rank || reps.some((r) => r < 1)) throw new Error(`Tile node '${node.name}': repeats [${reps.join(', ')}] for [${x.shape.join(', ')}]`);
  const paired = ops.reshape(x, x.shape.flatMap((d) => [1, d]));
  return [ops.reshape(ops.expandTo(paired, x.shape.flatMap((d, i) => [reps[i], d])), x.shape.map((d, i) => d * reps[i]))];
}

export const LAYOUT_OPS: Record<string, GpuOp> = {
  Flatten: flattenOp,
  Reshape: reshapeOp,
  Transpose: transposeOp,
  Squeeze: squeezeOp,
  Unsqueeze: unsqueezeOp,
  Concat: concatOp,
  Split: splitOp,
  Slice: sliceOp,
  Expand: expandOp,
  Gather: gatherOp,
  Tile: tileOp,
};
