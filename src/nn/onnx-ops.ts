/**
 * ONNX operators on the engine's ops: each GPU op takes its inputs (GPU tensors, or CPU constants such
 * as weights, shapes and bounds) and returns its outputs, recording gradients through the autograd
 * ops it uses. CPU ops fold shape arithmetic (Shape, Gather, Concat on int64 ...) before the GPU sees it.
 */
import { Tensor, sizeOf } from '../autograd/tensor.ts';
import * as ops from '../autograd/ops/index.ts';
import type { GpuContext } from '../gpu/device.ts';
import type { OnnxArray, OnnxAttribute, OnnxNode } from '../io/onnx.ts';

export type Value = Tensor | OnnxArray;
export const isHost = (v: Value | null | undefined): v is OnnxArray => !!v && !(v instanceof Tensor);

export interface OpEnv {
  ctx: GpuContext;
  opset: number;
  /** A float constant as a GPU tensor, uploaded once. */
  upload(v: OnnxArray): Tensor;
  /** A constant an op derives (BatchNorm's scale, a pooling kernel), made and uploaded once per node and key. */
  derived(node: OnnxNode, key: string, make: () => OnnxArray): Tensor;
}

export type GpuOp = (inputs: (Value | null)[], node: OnnxNode, env: OpEnv) => Tensor[];
export type HostOp = (inputs: (OnnxArray | null)[], node: OnnxNode) => OnnxArray[];

// ---- attributes and constants ----

export function attr<T extends OnnxAttribute>(node: OnnxNode, name: string, fallback: T): T {
  return (node.attributes.has(name) ? node.attributes.get(name) : fallback) as T;
}
const ints = (a: OnnxArray | null): number[] => (a ? Array.from(a.data as ArrayLike<number | bigint>, Number) : []);
const int64 = (values: number[], dims = [values.length]): OnnxArray => ({ dtype: 'int64', dims, data: BigInt64Array.from(values, (v) => BigInt(v)) });
const scalarOf = (a: OnnxArray | null, fallback: number): number => (a && a.data.length ? Number(a.data[0]) : fallback);
const filled = (dims: number[], v: number): OnnxArray => ({ dtype: 'float32', dims, data: new Float32Array(sizeOf(dims)).fill(v) });

function tensorIn(v: Value | null, node: OnnxNode, env: OpEnv, i: number): Tensor {
  if (!v) throw new Error(`${node.opType} node '${node.name}': input ${i} is missing`);
  if (v instanceof Tensor) return v;
  if (v.dtype !== 'float32') throw new Error(`${node.opType} node '${node.name}': input ${i} is an int64 tensor where a float one is needed`);
  return env.upload(v);
}
function hostIn(v: Value | null, node: OnnxNode, i: number): OnnxArray | null {
  if (v === null) return null;
  if (v instanceof Tensor) throw new Error(`${node.opType} node '${node.name}': input ${i} must be a constant (an initializer or folded shape), but it is computed on the GPU`);
  return v;
}

/** ONNX pads of rank 2 ([top, left, bottom, right]) for a kernel, with auto_pad resolved against the input size. */
function pads2d(node: OnnxNode, H: number, W: number, k: number[], s: number[], d: number[]): [number, number, number, number] {
  const auto = attr(node, 'auto_pad', 'NOTSET');
  if (auto === 'NOTSET') {
    const p = attr<number[]>(node, 'pads', [0, 0, 0, 0]);
    return [p[0], p[1], p[2], p[3]];
  }
  if (auto === 'VALID') return [0, 0, 0, 0];
  const need = (size: number, i: number) => Math.max(0, (Math.ceil(size / s[i]) - 1) * s[i] + (k[i] - 1) * d[i] + 1 - size);
  const ph = need(H, 0), pw = need(W, 1);
  const upper = auto === 'SAME_UPPER';
  const [t, b] = upper ? [Math.floor(ph / 2), ph - Math.floor(ph / 2)] : [ph - Math.floor(ph / 2), Math.floor(ph / 2)];
  const [l, r] = upper ? [Math.floor(pw / 2), pw - Math.floor(pw / 2)] : [pw - Math.floor(pw / 2), Math.floor(pw / 2)];
  return [t, l, b, r];
}

function require4d(x: Tensor, node: OnnxNode): void {
  if (x.rank !== 4) throw new Error(`${node.opType} node '${node.name}': input [${x.shape.join(', ')}] is not [N, C, H, W]; Glimpse runs 2-D ${node.opType} only`);
}

// ---- GPU ops ----

function conv(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0), w = tensorIn(inputs[1], node, env, 1), b = inputs[2] ? tensorIn(inputs[2], node, env, 2) : null;
  if (x.rank === 3 && w.rank === 3) { // Conv1d as a 2-D convolution of height 1
    const y = conv([ops.reshape(x, [x.shape[0], x.shape[1], 1, x.shape[2]]), ops.reshape(w, [w.shape[0], w.shape[1], 1, w.shape[2]]), b], withAttrs1d(node), env)[0];
    return [ops.reshape(y, [y.shape[0], y.shape[1], y.shape[3]])];
  }
  require4d(x, node);
  const g = convAttributes(node, x, w);
  if (g.dense) return [ops.conv2d(x, w, b, g.dense)];
  return [ops.groupedConv2d(x, w, b, { stride: g.stride, pads: g.pads, dilation: g.dilation, groups: g.group })];
}

/** A 2-D Conv node's geometry, and its options for the dense kernels (conv2d, conv2dAffine) where they apply: one group, symmetric pads. */
function convAttributes(node: OnnxNode, x: Tensor, w: Tensor) {
  const s = attr<number[]>(node, 'strides', [1, 1]), d = attr<number[]>(node, 'dilations', [1, 1]);
  const stride: [number, number] = [s[0], s[1]], dilation: [number, number] = [d[0], d[1]];
  const pads = pads2d(node, x.shape[2], x.shape[3], [w.shape[2], w.shape[3]], s, d), group = attr(node, 'group', 1);
  const dense = group === 1 && pads[0] === pads[2] && pads[1] === pads[3] ? { stride, padding: [pads[0], pads[1]] as [number, number], dilation } : null;
  return { stride, dilation, pads, group, dense };
}

/** A 1-D node's attributes as a 2-D one's, with height 1. */
function withAttrs1d(node: OnnxNode): OnnxNode {
  const a = new Map(node.attributes);
  const two = (n: string, v: number, f: number) => a.set(n, [v, (node.attributes.get(n) as number[] | undefined)?.[0] ?? f]);
  two('strides', 1, 1);
  two('dilations', 1, 1);
  const p = node.attributes.get('pads') as number[] | undefined;
  if (p) a.set('pads', [0, p[0], 0, p[1]]);
  return { ...node, attributes: a };
}

/** A BatchNormalization node's per-channel scale and shift, in float64 as PyTorch's CPU kernel, uploaded once. */
export function batchNormAffine(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): { scale: Tensor; shift: Tensor } {
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) => hostIn(inputs[i], node, i));
  if (!gamma || !beta || !mean || !variance) throw new Error(`BatchNormalization node '${node.name}': scale, bias, mean and variance must be constants`);
  const eps = attr(node, 'epsilon', 1e-5), C = gamma.data.length;
  const affine = (shiftPart: boolean): OnnxArray => {
    const out = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      const sc = Number(gamma.data[c]) / Math.sqrt(Number(variance.data[c]) + eps);
      out[c] = shiftPart ? Number(beta.data[c]) - Number(mean.data[c]) * sc : sc;
    }
    return { dtype: 'float32', dims: [C], data: out };
  };
  return { scale: env.derived(node, 'scale', () => affine(false)), shift: env.derived(node, 'shift', () => affine(true)) };
}

/** Inference BatchNormalization as a per-channel affine map. */
function batchNorm(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  const { scale, shift } = batchNormAffine(inputs, node, env);
  const C = scale.size;
  if (x.shape[1] !== C) throw new Error(`BatchNormalization node '${node.name}': ${C} channels, input [${x.shape.join(', ')}]`);
  const x4 = x.rank === 4 ? x : ops.reshape(x, [x.shape[0], C, x.rank === 3 ? x.shape[2] : 1, 1]);
  const y = ops.channelAffine(x4, scale, shift);
  return [x.rank === 4 ? y : ops.reshape(y, x.shape)];
}

/**
 * Conv, then its BatchNormalization and/or an activation (Relu, or Clip with constant bounds), in one
 * kernel: the convolution's epilogue in the BatchNorm kernel's arithmetic, the same bits as the ops
 * apart (ops.conv2dAffine, ops.groupedConv2dAffine; without a BatchNorm the map is the identity,
 * x * 1 + 0). Null where no fused kernel takes the convolution (groups other than depthwise, asymmetric
 * pads of a dense one, not 2-D) or the Clip's bounds are not finite constants.
 */
export function convEpilogue(convInputs: (Value | null)[], conv: OnnxNode, bn: { inputs: (Value | null)[]; node: OnnxNode } | null,
  act: { inputs: (Value | null)[]; node: OnnxNode } | null, env: OpEnv): Tensor | null {
  const x = tensorIn(convInputs[0], conv, env, 0), w = tensorIn(convInputs[1], conv, env, 1);
  if (x.rank !== 4 || w.rank !== 4) return null;
  let activation: ops.Activation = null;
  if (act?.node.opType === 'Relu') activation = 'relu';
  else if (act) {
    const bounds = clipBounds(act.inputs, act.node, env.opset);
    if (!bounds.every(Number.isFinite)) return null;
    activation = { clip: bounds };
  }
  const g = convAttributes(conv, x, w);
  const depthwise = g.group === x.shape[1] && w.shape[0] === g.group && w.shape[1] === 1;
  if (!g.dense && !depthwise) return null;
  const b = convInputs[2] ? tensorIn(convInputs[2], conv, env, 2) : null;
  const K = w.shape[0];
  const { scale, shift } = bn ? batchNormAffine(bn.inputs, bn.node, env)
    : { scale: env.derived(conv, 'unit scale', () => filled([K], 1)), shift: env.derived(conv, 'zero shift', () => filled([K], 0)) };
  if (g.dense) return ops.conv2dAffine(x, w, b, g.dense, scale, shift, { activation });
  return ops.groupedConv2dAffine(x, w, b, { stride: g.stride, pads: g.pads, dilation: g.dilation, groups: g.group }, scale, shift, activation);
}

/** A Clip node's bounds: inputs from opset 11, attributes before; a missing one is infinite. */
function clipBounds(inputs: (Value | null)[], node: OnnxNode, opset: number): [number, number] {
  if (opset < 11) return [attr(node, 'min', -Infinity), attr(node, 'max', Infinity)];
  return [scalarOf(hostIn(inputs[1] ?? null, node, 1), -Infinity), scalarOf(hostIn(inputs[2] ?? null, node, 2), Infinity)];
}

function clipOp(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const [lo, hi] = clipBounds(inputs, node, env.opset);
  return [ops.clip(tensorIn(inputs[0], node, env, 0), lo, hi)];
}

function binaryOp(op: 'add' | 'sub' | 'mul' | 'div'): GpuOp {
  return (inputs, node, env) => [ops.broadcastBinary(op, tensorIn(inputs[0], node, env, 0), tensorIn(inputs[1], node, env, 1))];
}

function gemm(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  if (attr(node, 'transA', 0)) throw new Error(`Gemm node '${node.name}': transA = 1 is not supported`);
  const alpha = attr(node, 'alpha', 1), beta = attr(node, 'beta', 1);
  const a = tensorIn(inputs[0], node, env, 0);
  const w = inputs[1];
  if (!w) throw new Error(`Gemm node '${node.name}': no B`);
  // linear() takes the weight as [out, in]: B as stored when transB = 1, transposed otherwise.
  const wt = attr(node, 'transB', 0) ? tensorIn(w, node, env, 1) : isHost(w) ? env.derived(node, 'B transposed', () => transpose2d(w)) : ops.permute(w, [1, 0]);
  let bias: Tensor | null = null;
  if (inputs[2]) {
    const c = inputs[2];
    if (isHost(c) && c.dims.length <= 1 && c.data.length === wt.shape[0]) bias = beta === 1 ? tensorIn(c, node, env, 2) : env.derived(node, 'beta C', () => scaled(c, beta));
    else throw new Error(`Gemm node '${node.name}': C must be a constant vector of ${wt.shape[0]} values`);
  }
  return [ops.linear(alpha === 1 ? a : ops.scale(a, alpha), wt, bias)];
}
const scaled = (c: OnnxArray, k: number): OnnxArray => ({ dtype: 'float32', dims: c.dims, data: Float32Array.from(c.data as Float32Array, (v) => v * k) });
function transpose2d(a: OnnxArray): OnnxArray {
  const [r, c] = a.dims;
  const src = a.data as Float32Array, out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = src[i * c + j];
  return { dtype: 'float32', dims: [c, r], data: out };
}

function matMul(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const a = tensorIn(inputs[0], node, env, 0), b = inputs[1];
  if (isHost(b) && b.dims.length === 2) {
    const lead = a.shape.slice(0, -1);
    const flat = a.rank === 2 ? a : ops.reshape(a, [sizeOf(lead), a.shape[a.rank - 1]]);
    const y = ops.linear(flat, env.derived(node, 'B transposed', () => transpose2d(b)));
    return [a.rank === 2 ? y : ops.reshape(y, [...lead, b.dims[1]])];
  }
  const bt = tensorIn(b, node, env, 1);
  if (a.rank !== 2 || bt.rank !== 2) throw new Error(`MatMul node '${node.name}': [${a.shape.join(', ')}] x [${bt.shape.join(', ')}]: only 2-D products of computed tensors are supported`);
  return [ops.matmul(a, bt)];
}

function maxPool(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  require4d(x, node);
  if (node.outputs.length > 1 && node.outputs[1]) throw new Error(`MaxPool node '${node.name}': the Indices output is not supported`);
  const k = attr<number[]>(node, 'kernel_shape', []), s = attr<number[]>(node, 'strides', [1, 1]), d = attr<number[]>(node, 'dilations', [1, 1]);
  const pads = pads2d(node, x.shape[2], x.shape[3], k, s, d);
  if (pads[0] !== pads[2] || pads[1] !== pads[3]) throw new Error(`MaxPool node '${node.name}': asymmetric pads [${pads.join(', ')}] are not supported`);
  return [ops.maxPool2d(x, { kernelSize: [k[0], k[1]], stride: [s[0], s[1]], padding: [pads[0], pads[1]], dilation: [d[0], d[1]], ceilMode: !!attr(node, 'ceil_mode', 0) })];
}

/** AveragePool as a depthwise convolution with weights 1 / (kh kw): for 2x2 windows the same bits as summing, then dividing. */
function averagePool(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  require4d(x, node);
  const k = attr<number[]>(node, 'kernel_shape', []), s = attr<number[]>(node, 'strides', [1, 1]);
  const pads = pads2d(node, x.shape[2], x.shape[3], k, s, [1, 1]);
  if (attr(node, 'ceil_mode', 0)) throw new Error(`AveragePool node '${node.name}': ceil_mode is not supported`);
  const C = x.shape[1];
  const opts = { stride: [s[0], s[1]] as [number, number], pads };
  if (pads.every((p) => p === 0) || attr(node, 'count_include_pad', 0)) {
    const w = env.derived(node, `mean ${C}`, () => filled([C, 1, k[0], k[1]], 1 / (k[0] * k[1])));
    return [ops.groupedConv2d(x, w, null, { ...opts, groups: C })];
  }
  // Padding left out of the mean: the window sums, divided by how many real inputs each window covers.
  const sums = ops.groupedConv2d(x, env.derived(node, `ones ${C}`, () => filled([C, 1, k[0], k[1]], 1)), null, { ...opts, groups: C });
  const counts = ops.groupedConv2d(ops.fill(env.ctx, [1, 1, x.shape[2], x.shape[3]], 1), env.derived(node, 'ones 1', () => filled([1, 1, k[0], k[1]], 1)), null, opts);
  return [ops.broadcastBinary('div', sums, counts)];
}

/** Constant padding of the last two dimensions, as a depthwise 1x1 convolution by 1 with pads (exact). */
function pad(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  const mode = attr(node, 'mode', 'constant');
  const p = env.opset >= 11 ? ints(hostIn(inputs[1], node, 1)) : attr<number[]>(node, 'pads', []);
  const value = env.opset >= 11 ? scalarOf(hostIn(inputs[2] ?? null, node, 2), 0) : attr(node, 'value', 0);
  if (p.every((v) => v === 0)) return [ops.reshape(x, x.shape)];
  const r = x.rank;
  const begin = p.slice(0, r), end = p.slice(r);
  if (mode !== 'constant' || value !== 0 || r !== 4 || begin[0] || begin[1] || end[0] || end[1] || p.some((v) => v < 0)) {
    throw new Error(`Pad node '${node.name}': only zero padding of H and W is supported (mode ${mode}, value ${value}, pads [${p.join(', ')}])`);
  }
  const C = x.shape[1];
  const w = env.derived(node, `ones ${C}`, () => filled([C, 1, 1, 1], 1));
  return [ops.groupedConv2d(x, w, null, { pads: [begin[2], begin[3], end[2], end[3]], groups: C })];
}

function concatOp(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const xs = inputs.map((v, i) => tensorIn(v, node, env, i));
  const rank = xs[0].rank;
  const axis = (attr(node, 'axis', 0) + rank) % rank;
  if (axis === 0) return [ops.concat(xs)];
  if (rank > 4) throw new Error(`Concat node '${node.name}': rank ${rank} is not supported`);
  // Along another axis: bring it to the front, concatenate, and move it back.
  const { perm, back } = moveAxis(rank, axis, 'first');
  return [ops.permute(ops.concat(xs.map((t) => ops.permute(t, perm))), back)];
}

/** The permutation that moves `axis` first (or last), the others keeping their order, and its inverse. */
function moveAxis(rank: number, axis: number, to: 'first' | 'last'): { perm: number[]; back: number[] } {
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

/** The axes of a Reduce* node: an attribute up to opset 17 (an input from 18). */
function reduceAxes(node: OnnxNode, rank: number): number[] {
  return ((node.attributes.get('axes') as number[] | undefined) ?? Array.from({ length: rank }, (_, i) => i)).map((d) => (d + rank) % rank);
}

function reduceMean(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  const axes = reduceAxes(node, x.rank);
  return [ops.mean(x, axes, !!attr(node, 'keepdims', 1))];
}

/** Softmax: opset 13 normalizes along one axis (default -1); earlier opsets over the dimensions from `axis` (default 1) on, as one. */
function softmaxOp(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  if (env.opset < 13) {
    const axis = (attr(node, 'axis', 1) + x.rank) % x.rank;
    return [ops.reshape(ops.softmax(ops.reshape(x, [sizeOf(x.shape.slice(0, axis)), sizeOf(x.shape.slice(axis))])), x.shape)];
  }
  const axis = (attr(node, 'axis', -1) + x.rank) % x.rank;
  if (axis === x.rank - 1) return [ops.softmax(x)];
  const { perm, back } = moveAxis(x.rank, axis, 'last');
  return [ops.permute(ops.softmax(ops.permute(x, perm)), back)];
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
  if (x.rank > 4) throw new Error(`Split node '${node.name}': rank ${x.rank} is not supported`);
  const { perm, back } = moveAxis(x.rank, axis, 'first');
  const front = axis === 0 ? x : ops.permute(x, perm);
  let start = 0;
  return sizes.map((s) => {
    const part = ops.sliceBatch(front, start, start + s);
    start += s;
    return axis === 0 ? part : ops.permute(part, back);
  });
}

/** ReduceMax over one axis, as torch.max(x, dim) (the gradient to each slice's first maximum); over several, one after another. */
function reduceMax(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  const axes = reduceAxes(node, x.rank);
  const keep = !!attr(node, 'keepdims', 1);
  let y = x;
  for (const a of [...axes].sort((p, q) => q - p)) y = ops.maxAlong(y, a, keep);
  return [y];
}

/** LayerNormalization (opset 17) over the dimensions from `axis` on: (x - mean) / sqrt(var + eps) * scale + bias. */
function layerNorm(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  const axis = (attr(node, 'axis', -1) + x.rank) % x.rank, eps = attr(node, 'epsilon', 1e-5);
  const dims = Array.from({ length: x.rank - axis }, (_, i) => axis + i);
  const centered = ops.broadcastBinary('sub', x, ops.mean(x, dims, true));
  const variance = ops.mean(ops.square(centered), dims, true);
  let y = ops.broadcastBinary('div', centered, ops.sqrt(ops.affine(variance, 1, eps)));
  if (inputs[1]) y = ops.broadcastBinary('mul', y, tensorIn(inputs[1], node, env, 1));
  if (inputs[2]) y = ops.broadcastBinary('add', y, tensorIn(inputs[2], node, env, 2));
  return [y];
}

/** Gather on axis 0 of a constant table by computed indices: an embedding lookup (Glimpse takes token ids as float32 values). */
function gatherOp(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const table = inputs[0], ids = inputs[1];
  if (!isHost(table) || table.dtype !== 'float32' || attr(node, 'axis', 0) !== 0) {
    throw new Error(`Gather node '${node.name}': only a lookup in a constant float table along axis 0 (an embedding) runs on the GPU`);
  }
  return [ops.gatherRows(env.upload(table), tensorIn(ids, node, env, 1))];
}

/** Pow by a constant exponent: 2 (LayerNormalization's decomposition squares), 0.5, 1; others are refused. */
function powOp(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0), e = hostIn(inputs[1], node, 1);
  const p = e && e.data.length === 1 ? Number(e.data[0]) : NaN;
  if (p === 2) return [ops.square(x)];
  if (p === 0.5) return [ops.sqrt(x)];
  if (p === 1) return [ops.reshape(x, x.shape)];
  throw new Error(`Pow node '${node.name}': only the constant exponents 2, 0.5 and 1 are supported`);
}

const identity: GpuOp = (inputs, node, env) => {
  const x = tensorIn(inputs[0], node, env, 0);
  return [ops.reshape(x, x.shape)];
};

/** GPU ops by ONNX op type. Relu is a module of its own (GuidedBackprop overrides it), see graph.ts. */
export const GPU_OPS: Record<string, GpuOp> = {
  Conv: conv,
  BatchNormalization: batchNorm,
  Relu: (inputs, node, env) => [ops.relu(tensorIn(inputs[0], node, env, 0))],
  Clip: clipOp,
  Sigmoid: (inputs, node, env) => [ops.sigmoid(tensorIn(inputs[0], node, env, 0))],
  HardSigmoid: (inputs, node, env) => [ops.clip(ops.affine(tensorIn(inputs[0], node, env, 0), attr(node, 'alpha', 0.2), attr(node, 'beta', 0.5)), 0, 1)],
  Add: binaryOp('add'),
  Sub: binaryOp('sub'),
  Mul: binaryOp('mul'),
  Div: binaryOp('div'),
  GlobalAveragePool: (inputs, node, env) => {
    const x = tensorIn(inputs[0], node, env, 0);
    return [ops.mean(x, x.shape.map((_, i) => i).slice(2), true)];
  },
  ReduceMean: reduceMean,
  Flatten: flattenOp,
  Reshape: reshapeOp,
  Transpose: transposeOp,
  Squeeze: squeezeOp,
  Unsqueeze: unsqueezeOp,
  Gemm: gemm,
  MatMul: matMul,
  MaxPool: maxPool,
  AveragePool: averagePool,
  Pad: pad,
  Concat: concatOp,
  Identity: identity,
  Dropout: identity,
  Sqrt: (inputs, node, env) => [ops.sqrt(tensorIn(inputs[0], node, env, 0))],
  Exp: (inputs, node, env) => [ops.exp(tensorIn(inputs[0], node, env, 0))],
  Neg: (inputs, node, env) => [ops.scale(tensorIn(inputs[0], node, env, 0), -1)],
  Abs: (inputs, node, env) => [ops.abs(tensorIn(inputs[0], node, env, 0))],
  Pow: powOp,
  LeakyRelu: (inputs, node, env) => [ops.leakyRelu(tensorIn(inputs[0], node, env, 0), attr(node, 'alpha', 0.01))],
  Tanh: (inputs, node, env) => [ops.tanh(tensorIn(inputs[0], node, env, 0))],
  Erf: (inputs, node, env) => [ops.erf(tensorIn(inputs[0], node, env, 0))],
  HardSwish: (inputs, node, env) => [ops.hardswish(tensorIn(inputs[0], node, env, 0))],
  Softmax: softmaxOp,
  Split: splitOp,
  ReduceMax: reduceMax,
  LayerNormalization: layerNorm,
  Gather: gatherOp,
};

// ---- CPU folding of constants and shapes ----

function hostBinary(f: (a: number, b: number) => number): HostOp {
  return ([a, b]) => {
    const n = Math.max(a!.data.length, b!.data.length);
    const va = ints(a), vb = ints(b);
    const out = Array.from({ length: n }, (_, i) => f(va[va.length === 1 ? 0 : i], vb[vb.length === 1 ? 0 : i]));
    if (a!.dtype === 'float32' || b!.dtype === 'float32') return [{ dtype: 'float32', dims: a!.data.length >= b!.data.length ? a!.dims : b!.dims, data: Float32Array.from(out) }];
    return [int64(out.map(Math.trunc), a!.data.length >= b!.data.length ? a!.dims : b!.dims)];
  };
}

export const HOST_OPS: Record<string, HostOp> = {
  Identity: ([x]) => [x!],
  Dropout: ([x]) => [x!],
  Cast: ([x], node) => {
    const to = attr(node, 'to', 1);
    return [to === 1 || to === 10 || to === 11 ? { dtype: 'float32', dims: x!.dims, data: Float32Array.from(x!.data as ArrayLike<number | bigint>, Number) } : int64(ints(x), x!.dims)];
  },
  Unsqueeze: ([x, axesIn], node) => {
    const axes = axesIn ? ints(axesIn) : attr<number[]>(node, 'axes', []);
    const dims = [...x!.dims];
    const out = dims.length + axes.length;
    for (const a of axes.map((d) => (d + out) % out).sort((p, q) => p - q)) dims.splice(a, 0, 1);
    return [{ ...x!, dims } as OnnxArray];
  },
  Squeeze: ([x, axesIn], node) => {
    const axes = (axesIn ? ints(axesIn) : attr<number[]>(node, 'axes', [])).map((d) => (d + x!.dims.length) % x!.dims.length);
    return [{ ...x!, dims: x!.dims.filter((d, i) => (axes.length ? !axes.includes(i) : d !== 1)) } as OnnxArray];
  },
  Concat: (xs) => {
    const all = xs.flatMap((x) => ints(x));
    return [int64(all)];
  },
  Gather: ([data, idx], node) => {
    if (data!.dims.length !== 1 || attr(node, 'axis', 0) !== 0) throw new Error(`Gather node '${node.name}': only 1-D constant gathers are folded`);
    const v = ints(data), i = ints(idx).map((k) => v[k < 0 ? k + v.length : k]);
    return [int64(i, idx!.dims)];
  },
  Slice: ([data, starts, ends, axesIn, steps]) => {
    const dims = data!.dims.length ? data!.dims : [data!.data.length];
    const st = ints(starts), en = ints(ends), axes = axesIn ? ints(axesIn).map((a) => (a + dims.length) % dims.length) : st.map((_, i) => i);
    const sp = steps ? ints(steps) : st.map(() => 1);
    // Per dimension, the indices taken (ONNX's clamping: to [0, n] going forward, [-1, n - 1] going back).
    const picks = dims.map((n, d) => {
      const k = axes.indexOf(d);
      if (k < 0) return Array.from({ length: n }, (_, i) => i);
      const step = sp[k];
      const clamp = (v: number) => { const w = v < 0 ? v + n : v; return step > 0 ? Math.max(0, Math.min(n, w)) : Math.max(-1, Math.min(n - 1, w)); };
      const out: number[] = [];
      for (let i = clamp(st[k]), e = clamp(en[k]); step > 0 ? i < e : i > e; i += step) out.push(i);
      return out;
    });
    return [gatherNd(data!, picks)];
  },
  Transpose: ([x], node) => {
    const dims = x!.dims, perm = attr<number[]>(node, 'perm', dims.map((_, i) => dims.length - 1 - i));
    const outDims = perm.map((p) => dims[p]), strides = dims.map((_, i) => sizeOf(dims.slice(i + 1)));
    const src = x!.data as ArrayLike<number | bigint>, out: (number | bigint)[] = [];
    const idx = new Array(outDims.length).fill(0);
    for (let n = 0; n < sizeOf(outDims); n++) {
      out.push(src[idx.reduce((a, v, i) => a + v * strides[perm[i]], 0)]);
      for (let i = outDims.length - 1; i >= 0 && ++idx[i] === outDims[i]; i--) idx[i] = 0;
    }
    return [hostArray(x!.dtype, outDims, out)];
  },
  Add: hostBinary((a, b) => a + b),
  Sub: hostBinary((a, b) => a - b),
  Mul: hostBinary((a, b) => a * b),
  Div: hostBinary((a, b) => a / b),
  Reshape: ([x, shape]) => {
    const t = ints(shape), known = sizeOf(t.filter((d) => d !== -1));
    return [{ ...x!, dims: t.map((d, i) => (d === -1 ? x!.data.length / known : d === 0 ? x!.dims[i] : d)) } as OnnxArray];
  },
  ConstantOfShape: ([shape], node) => {
    const dims = ints(shape), value = node.attributes.get('value') as OnnxArray | undefined;
    const v = value ? Number(value.data[0]) : 0;
    return [value?.dtype === 'int64' ? int64(new Array(sizeOf(dims)).fill(v), dims) : { dtype: 'float32', dims, data: new Float32Array(sizeOf(dims)).fill(v) }];
  },
};

/** Host values (the elements of an int64 or float32 array, in order) as an array of that type. */
function hostArray(dtype: OnnxArray['dtype'], dims: number[], values: (number | bigint)[]): OnnxArray {
  return dtype === 'int64' ? { dtype, dims, data: BigInt64Array.from(values as bigint[]) } : { dtype, dims, data: Float32Array.from(values as number[]) };
}

/** The elements of `a` at the cross product of per-dimension index lists (row-major). */
function gatherNd(a: OnnxArray, picks: number[][]): OnnxArray {
  const dims = a.dims.length ? a.dims : [a.data.length];
  const strides = dims.map((_, i) => sizeOf(dims.slice(i + 1)));
  const out: (number | bigint)[] = [];
  const walk = (d: number, base: number) => {
    if (d === dims.length) { out.push((a.data as ArrayLike<number | bigint>)[base]); return; }
    for (const i of picks[d]) walk(d + 1, base + i * strides[d]);
  };
  walk(0, 0);
  const outDims = picks.map((p) => p.length);
  return hostArray(a.dtype, outDims, out);
}

/** Shape(x) of a GPU tensor: folded on the CPU from its shape at run time (batch included). */
export function shapeOf(x: Value, node: OnnxNode): OnnxArray {
  const dims = x instanceof Tensor ? [...x.shape] : x.dims;
  const start = attr(node, 'start', 0), end = attr(node, 'end', dims.length);
  return int64(dims.slice(start < 0 ? start + dims.length : start, end < 0 ? end + dims.length : end));
}
