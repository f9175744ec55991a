/**
 * ONNX operators on the engine's ops: each GPU op takes its inputs (GPU tensors, or CPU constants such
 * as weights, shapes and bounds) and returns its outputs, recording gradients through the autograd
 * ops it uses. Layout ops (reshapes, slices) live in onnx-layout.ts, CPU folding in onnx-host.ts.
 */
import { Tensor, sizeOf } from '../autograd/tensor.ts';
import * as ops from '../autograd/ops/index.ts';
import type { OnnxArray, OnnxNode } from '../io/onnx.ts';
import { LAYOUT_OPS, moveAxis } from './onnx-layout.ts';
import { type GpuOp, type OpEnv, type Value, attr, filled, hostIn, ints, isHost, scalarOf, tensorIn } from './onnx-values.ts';

export { HOST_OPS, shapeOf } from './onnx-host.ts';
export type { OpEnv, Value } from './onnx-values.ts';

/** ONNX pads of rank 2 ([top, left, bottom, right]) for a kernel, with auto_pad resolved against the input size. */
export function pads2d(node: OnnxNode, H: number, W: number, k: number[], s: number[], d: number[]): [number, number, number, number] {
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
export function convAttributes(node: OnnxNode, x: { shape: readonly number[] }, w: { shape: readonly number[] }) {
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

/** Inference BatchNormalization as a per-channel affine map, with the activation that follows it when fused (batchNormActivation). */
function batchNorm(inputs: (Value | null)[], node: OnnxNode, env: OpEnv, activation: ops.Activation = null): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  const { scale, shift } = batchNormAffine(inputs, node, env);
  const C = scale.size;
  if (x.shape[1] !== C) throw new Error(`BatchNormalization node '${node.name}': ${C} channels, input [${x.shape.join(', ')}]`);
  const x4 = x.rank === 4 ? x : ops.reshape(x, [x.shape[0], C, x.rank === 3 ? x.shape[2] : 1, 1]);
  const y = ops.channelAffine(x4, scale, shift, activation);
  return [x.rank === 4 ? y : ops.reshape(y, x.shape)];
}

/** The activation a fused kernel applies for a Relu or Clip node; undefined where none can (a Clip's bounds not finite constants). */
function fusedActivation(act: { inputs: (Value | null)[]; node: OnnxNode } | null, env: OpEnv): ops.Activation | undefined {
  if (!act) return null;
  if (act.node.opType === 'Relu') return 'relu';
  const bounds = clipBounds(act.inputs, act.node, env.opset);
  return bounds.every(Number.isFinite) ? { clip: bounds } : undefined;
}

/**
 * BatchNormalization, then its Relu or Clip, in one channel kernel (DenseNet's pre-activation layers,
 * or a stem whose Conv ran apart): the same bits as the two apart, forward and backward (the mask
 * comes from the output either way). Null where the activation cannot be fused.
 */
export function batchNormActivation(bnInputs: (Value | null)[], bn: OnnxNode, act: { inputs: (Value | null)[]; node: OnnxNode }, env: OpEnv): Tensor | null {
  const activation = fusedActivation(act, env);
  return activation === undefined ? null : batchNorm(bnInputs, bn, env, activation)[0];
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
  const activation = fusedActivation(act, env);
  if (activation === undefined) return null;
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
  const x = alpha === 1 ? a : ops.scale(a, alpha), transB = !!attr(node, 'transB', 0);
  const c = inputs[2] ?? null;
  if (isHost(w)) {
    const out = w.dims[transB ? 0 : 1];
    if (c && !(isHost(c) && c.dims.length <= 1 && c.data.length === out)) throw new Error(`Gemm node '${node.name}': C must be a constant vector of ${out} values`);
    return [constantLinear(x, node, env, transB ? w.dims : [w.dims[1], w.dims[0]], () => (transB ? w : transpose2d(w)), c && (() => (beta === 1 ? c : scaled(c, beta))))];
  }
  // linear() takes the weight as [out, in]: B as computed when transB = 1, transposed otherwise.
  const wt = transB ? w : ops.permute(w, [1, 0]);
  if (c && !(isHost(c) && c.dims.length <= 1 && c.data.length === wt.shape[0])) throw new Error(`Gemm node '${node.name}': C must be a constant vector of ${wt.shape[0]} values`);
  return [ops.linear(x, wt, c && env.derived(node, 'beta C', () => scaled(c as OnnxArray, beta)))];
}

/**
 * x [N, in] @ W^T + b for a constant W made [out, in] by `weight`, uploaded once. A W larger than one
 * storage binding (VGG's 25088 x 4096 classifier is 411 MB; lavapipe binds 128 MB) runs as blocks of
 * rows, their outputs concatenated.
 */
function constantLinear(x: Tensor, node: OnnxNode, env: OpEnv, [out, inF]: number[], weight: () => OnnxArray, bias: (() => OnnxArray) | null): Tensor {
  let full: OnnxArray | null = null;
  const w = () => (full ??= weight());
  const rows = Math.max(1, Math.floor(env.ctx.limits.maxStorageBufferBindingSize / (4 * inF)));
  if (rows >= out) return ops.linear(x, env.derived(node, 'W', w), bias && env.derived(node, 'b', bias));
  const parts: Tensor[] = [];
  for (let r0 = 0; r0 < out; r0 += rows) {
    const r1 = Math.min(out, r0 + rows);
    const wr = env.derived(node, `W rows ${r0}`, () => ({ dtype: 'float32', dims: [r1 - r0, inF], data: (w().data as Float32Array).slice(r0 * inF, r1 * inF) }));
    const br = bias && env.derived(node, `b rows ${r0}`, () => ({ dtype: 'float32', dims: [r1 - r0], data: (bias().data as Float32Array).slice(r0, r1) }));
    parts.push(ops.permute(ops.linear(x, wr, br), [1, 0]));
  }
  return ops.permute(ops.concat(parts), [1, 0]);
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
    const y = constantLinear(flat, node, env, [b.dims[1], b.dims[0]], () => transpose2d(b), null);
    return [a.rank === 2 ? y : ops.reshape(y, [...lead, b.dims[1]])];
  }
  // NumPy's matmul: 1-D operands gain (and lose) a dimension, leading dimensions broadcast, then one batched product.
  const bt = tensorIn(b, node, env, 1);
  const a2 = a.rank === 1 ? ops.reshape(a, [1, a.shape[0]]) : a, b2 = bt.rank === 1 ? ops.reshape(bt, [bt.shape[0], 1]) : bt;
  const [M, K] = a2.shape.slice(-2), [K2, N] = b2.shape.slice(-2);
  let lead: number[];
  try {
    if (K !== K2) throw new Error('inner');
    lead = ops.broadcastShapes(a2.shape.slice(0, -2), b2.shape.slice(0, -2));
  } catch {
    throw new Error(`MatMul node '${node.name}': [${a.shape.join(', ')}] x [${bt.shape.join(', ')}] do not multiply`);
  }
  let y: Tensor;
  if (!lead.length) y = ops.matmul(a2, b2);
  else {
    const B = sizeOf(lead);
    const batch = (t: Tensor, r: number, c: number) => ops.reshape(ops.expandTo(t, [...lead, r, c]), [B, r, c]);
    y = ops.reshape(ops.matmul(batch(a2, M, K), batch(b2, K, N)), [...lead, M, N]);
  }
  const shape = [...lead, ...(a.rank === 1 ? [] : [M]), ...(bt.rank === 1 ? [] : [N])];
  return [shape.length === y.rank ? y : ops.reshape(y, shape)];
}

function maxPool(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  require4d(x, node);
  if (node.outputs.length > 1 && node.outputs[1]) throw new Error(`MaxPool node '${node.name}': the Indices output is not supported`);
  const k = attr<number[]>(node, 'kernel_shape', []), s = attr<number[]>(node, 'strides', [1, 1]), d = attr<number[]>(node, 'dilations', [1, 1]);
  const pads = pads2d(node, x.shape[2], x.shape[3], k, s, d);
  return [ops.maxPool2d(x, { kernelSize: [k[0], k[1]], stride: [s[0], s[1]], pads, dilation: [d[0], d[1]], ceilMode: !!attr(node, 'ceil_mode', 0) })];
}

/**
 * AveragePool as a depthwise convolution with weights 1 / (kh kw): for 2x2 windows the same bits as
 * summing, then dividing. Where windows cover fewer values than kh kw (padding left out of the mean,
 * ceil_mode's windows past the end), the window sums divided by PyTorch's divisor: the real inputs
 * covered, or with count_include_pad the inputs and pads, never the overhang.
 */
function averagePool(inputs: (Value | null)[], node: OnnxNode, env: OpEnv): Tensor[] {
  const x = tensorIn(inputs[0], node, env, 0);
  require4d(x, node);
  const [, C, H, W] = x.shape;
  const k = attr<number[]>(node, 'kernel_shape', []), s = attr<number[]>(node, 'strides', [1, 1]);
  const pads = pads2d(node, H, W, k, s, [1, 1]), ceil = !!attr(node, 'ceil_mode', 0), countPads = !!attr(node, 'count_include_pad', 0);
  const OH = ops.poolOutputSize(H, pads[0], pads[2], 1, k[0], s[0], ceil), OW = ops.poolOutputSize(W, pads[1], pads[3], 1, k[1], s[1], ceil);
  const overH = Math.max(0, (OH - 1) * s[0] + k[0] - (H + pads[0] + pads[2])), overW = Math.max(0, (OW - 1) * s[1] + k[1] - (W + pads[1] + pads[3]));
  const stride = [s[0], s[1]] as [number, number];
  const all: [number, number, number, number] = [pads[0], pads[1], pads[2] + overH, pads[3] + overW];
  if (!overH && !overW && (pads.every((p) => p === 0) || countPads)) {
    const w = env.derived(node, `mean ${C}`, () => filled([C, 1, k[0], k[1]], 1 / (k[0] * k[1])));
    return [ops.groupedConv2d(x, w, null, { stride, pads, groups: C })];
  }
  const sums = ops.groupedConv2d(x, env.derived(node, `ones ${C}`, () => filled([C, 1, k[0], k[1]], 1)), null, { stride, pads: all, groups: C });
  // The divisor of each window: ones over what it may count (the input, or the input and its pads), summed by the same window.
  const ones = env.derived(node, 'ones 1', () => filled([1, 1, k[0], k[1]], 1));
  const counts = countPads
    ? ops.groupedConv2d(ops.fill(env.ctx, [1, 1, H + pads[0] + pads[2], W + pads[1] + pads[3]], 1), ones, null, { stride, pads: [0, 0, overH, overW], groups: 1 })
    : ops.groupedConv2d(ops.fill(env.ctx, [1, 1, H, W], 1), ones, null, { stride, pads: all, groups: 1 });
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
  ...LAYOUT_OPS,
  Conv: conv,
  BatchNormalization: (inputs, node, env) => batchNorm(inputs, node, env),
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
  Gemm: gemm,
  MatMul: matMul,
  MaxPool: maxPool,
  AveragePool: averagePool,
  Pad: pad,
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
  ReduceMax: reduceMax,
  LayerNormalization: layerNorm,
};

