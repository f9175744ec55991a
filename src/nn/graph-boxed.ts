/**
 * The receptive-field forward of a graph model (src/nn/boxed.ts describes it for ResNets): Occlusion's
 * items differ from the base input only inside a box, so each node recomputes only the outputs the
 * box reaches. Sliding nodes (Conv with its fused BatchNorm and activation, MaxPool, AveragePool) run
 * unpadded on the window their output box reads, cut from the base map with the node's padding;
 * elementwise nodes and channel Concat run on the boxes (the union of their inputs' boxes). Anything
 * else (a global pool, a Gemm, a squeeze-excite scale computed per item) materializes the items and
 * the graph runs on as usual, as it does once a box covers MATERIALIZE_AT of its map.
 */
import { Tensor } from '../autograd/tensor.ts';
import * as ops from '../autograd/ops/index.ts';
import { winograd, winogradApplies } from '../autograd/ops/winograd.ts';
import type { OnnxArray, OnnxNode } from '../io/onnx.ts';
import { type BaseMaps, type Boxed, MATERIALIZE_AT, boxWindows, materialize, slideBox } from './boxed.ts';
import { GPU_OPS, HOST_OPS, type OpEnv, type Value, convEpilogue, pads2d, shapeOf } from './onnx-ops.ts';
import { attr } from './onnx-values.ts';

/** What the walk needs of a GraphModel (graph.ts). */
export interface GraphPlan {
  steps: { node: OnnxNode; kind: 'host' | 'shape' | 'gpu' }[];
  /** A Conv's planned BatchNormalization and activation nodes (either may be null). */
  fusions: Map<OnnxNode, { bn: { node: OnnxNode } | null; act: { node: OnnxNode } | null }>;
  constants: Map<string, OnnxArray>;
  env: OpEnv;
  inputName: string;
  outputName: string;
}

type Item = Value | Boxed;
const isBoxed = (v: Item | null | undefined): v is Boxed => !!v && !(v instanceof Tensor) && 'patch' in v;

/** Elementwise ops (per element, or per channel with constants): a box of the input is a box of the output. */
const ELEMENTWISE = new Set(['Relu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'LeakyRelu', 'Tanh', 'Erf', 'Exp', 'Sqrt', 'Neg', 'Abs',
  'BatchNormalization', 'Identity', 'Dropout', 'Pow', 'Add', 'Sub', 'Mul', 'Div']);

/** A constant that broadcasts the same way over every position of a [B, C, H, W] map (a scalar, a per-channel vector). */
function positionFree(v: OnnxArray): boolean {
  const d = [...new Array(Math.max(0, 4 - v.dims.length)).fill(1), ...v.dims];
  return d.length === 4 && d[0] === 1 && d[2] === 1 && d[3] === 1;
}

/** Copies of sliding nodes with zero padding, made once per node (derived constants are cached per node object). */
const unpadded = new WeakMap<OnnxNode, OnnxNode>();
function unpaddedTwin(node: OnnxNode): OnnxNode {
  let t = unpadded.get(node);
  if (!t) {
    const attributes = new Map(node.attributes);
    attributes.set('pads', [0, 0, 0, 0]);
    attributes.set('auto_pad', 'NOTSET');
    unpadded.set(node, (t = { ...node, attributes }));
  }
  return t;
}

/** The per-item union of several boxes over maps of one size: origins and one size for all items. */
function unionBox(xs: Boxed[]): { boxes: Int32Array; PH: number; PW: number } {
  const [B] = xs[0].patch.shape, [, , H, W] = xs[0].base.shape;
  const lo = new Int32Array(2 * B), hi = new Int32Array(2 * B).fill(-1);
  lo.fill(1 << 30);
  for (const x of xs) {
    for (let b = 0; b < B; b++) for (let a = 0; a < 2; a++) {
      lo[2 * b + a] = Math.min(lo[2 * b + a], x.boxes[2 * b + a]);
      hi[2 * b + a] = Math.max(hi[2 * b + a], x.boxes[2 * b + a] + x.patch.shape[2 + a]);
    }
  }
  let PH = 0, PW = 0;
  for (let b = 0; b < B; b++) { PH = Math.max(PH, hi[2 * b] - lo[2 * b]); PW = Math.max(PW, hi[2 * b + 1] - lo[2 * b + 1]); }
  const boxes = new Int32Array(2 * B);
  for (let b = 0; b < B; b++) { boxes[2 * b] = Math.min(lo[2 * b], H - PH); boxes[2 * b + 1] = Math.min(lo[2 * b + 1], W - PW); }
  return { boxes, PH, PW };
}

/**
 * Logits of the items (call under noGrad); `bases` keeps the base input's maps across batches over the
 * same input. Boxes must be 4-D [B, C, h, w] patches of a [1, C, H, W] base.
 */
export function boxedGraphForward(plan: GraphPlan, X: Boxed, bases: BaseMaps, maxFraction = MATERIALIZE_AT): Tensor {
  const { env } = plan;
  const values = new Map<string, Item>(plan.constants);
  values.set(plan.inputName, X);
  const items = X.patch.shape[0];
  const get = (n: string): Item | null => (n === '' ? null : values.get(n) ?? null);
  const flat = (v: Item | null): Value | null => (isBoxed(v) ? materialize(v) : v);
  const done = new Set<OnnxNode>();
  /**
   * A Conv with its planned BatchNorm and activation in one kernel, as the full forward runs it, on
   * `ins` (`conv` is the node or its unpadded twin); `chain` false runs the convolution alone.
   */
  const convChain = (node: OnnxNode, conv: OnnxNode, ins: (Value | null)[], chain = true): { y: Tensor; last: OnnxNode } => {
    const f = chain ? plan.fusions.get(node) : undefined;
    const part = (s: { node: OnnxNode } | null, from: OnnxNode) => s && { node: s.node, inputs: s.node.inputs.map((n) => (n === from.outputs[0] ? null : flat(get(n)))) };
    const y = f ? convEpilogue(ins, conv, part(f.bn, node), part(f.act, f.bn?.node ?? node), env) : null;
    if (y) return { y, last: (f!.act ?? f!.bn)!.node };
    return { y: GPU_OPS.Conv(ins, conv, env)[0], last: node };
  };
  const sliding = (node: OnnxNode, x: Boxed, ins: (Item | null)[]): { out: Boxed; last: OnnxNode } | null => {
    const [, , H, W] = x.base.shape;
    const rest = ins.slice(1).map(flat);
    const run = (n: OnnxNode, input: Tensor, chain = true): { y: Tensor; last: OnnxNode } => {
      if (node.opType === 'Conv') return convChain(node, n, [input, ...rest], chain);
      if (node.opType === 'MaxPool') {
        const k = attr<number[]>(node, 'kernel_shape', []), s = attr<number[]>(node, 'strides', [1, 1]), d = attr<number[]>(node, 'dilations', [1, 1]);
        if (n !== node) return { y: ops.maxPool2d(input, { kernelSize: [k[0], k[1]], stride: [s[0], s[1]], dilation: [d[0], d[1]] }), last: node };
      }
      return { y: GPU_OPS[node.opType]([input, ...rest], n, env)[0], last: node };
    };
    let k: number[], s: number[], d: number[];
    if (node.opType === 'Conv') {
      const w = rest[0];
      const dims = w instanceof Tensor ? w.shape : w?.dims;
      if (!dims || dims.length !== 4) return null;
      k = [dims[2], dims[3]];
      s = attr<number[]>(node, 'strides', [1, 1]);
      d = attr<number[]>(node, 'dilations', [1, 1]);
    } else {
      k = attr<number[]>(node, 'kernel_shape', []);
      s = attr<number[]>(node, 'strides', [1, 1]);
      d = node.opType === 'MaxPool' ? attr<number[]>(node, 'dilations', [1, 1]) : [1, 1];
      // Padding left out of the mean depends on where a window sits in the whole map.
      if (node.opType === 'AveragePool' && (attr(node, 'ceil_mode', 0) || (!attr(node, 'count_include_pad', 0) && pads2d(node, H, W, k, s, d).some((p) => p)))) return null;
    }
    if (k.length !== 2) return null;
    const pads = pads2d(node, H, W, k, s, d);
    // Whether the chain fused on the whole map decides it for the windows too (asymmetric pads keep a dense
    // Conv apart from its BatchNorm there, while the unpadded window would fuse).
    const ends = chainEnds.get(bases) ?? chainEnds.set(bases, new Map()).get(bases)!;
    const base = bases.get(node, () => { const r = run(node, x.base); ends.set(node, r.last); return r.y; });
    const last = ends.get(node) ?? node;
    const dense = node.opType === 'Conv' && attr(node, 'group', 1) === 1;
    const tiled = dense && winogradApplies({ KH: k[0], KW: k[1], SH: s[0], SW: s[1], DH: d[0], DW: d[1] }, x.base.shape[1], base.shape[1], winograd.forwardTile);
    const g = slideBox(x, { k: [k[0], k[1]], s: [s[0], s[1]], d: [d[0], d[1]], lead: [pads[0], pads[1]] }, [base.shape[2], base.shape[3]], tiled ? 2 : 1);
    const window = boxWindows(x, g.origins, g.CH, g.CW, node.opType === 'MaxPool' ? -Infinity : 0);
    const patch = run(unpaddedTwin(node), window, last !== node).y;
    return { out: { base, patch, boxes: g.boxes }, last };
  };
  const elementwise = (node: OnnxNode, ins: (Item | null)[]): Boxed | null => {
    const boxed = ins.filter(isBoxed);
    // Per-item or per-position operands change the whole map; BatchNorm's constants are per channel by definition.
    if (ins.some((v, i) => v instanceof Tensor || (v && !isBoxed(v) && !(node.opType === 'BatchNormalization' ? i > 0 : positionFree(v))))) return null;
    if (node.opType === 'Concat' && ((attr(node, 'axis', 0) + 4) % 4 !== 1 || boxed.length !== ins.length)) return null;
    if (boxed.some((b) => b.base.shape[2] !== boxed[0].base.shape[2] || b.base.shape[3] !== boxed[0].base.shape[3])) return null;
    const u = unionBox(boxed);
    const patches = ins.map((v) => (isBoxed(v) ? boxWindows(v, u.boxes, u.PH, u.PW) : v));
    const base = bases.get(node, () => GPU_OPS[node.opType](ins.map((v) => (isBoxed(v) ? v.base : v)), node, env)[0]);
    return { base, patch: GPU_OPS[node.opType](patches, node, env)[0], boxes: u.boxes };
  };
  for (const step of plan.steps) {
    const { node } = step;
    if (done.has(node)) continue;
    const ins = node.inputs.map(get);
    if (step.kind === 'shape') {
      const v = ins[0];
      values.set(node.outputs[0], shapeOf(isBoxed(v) ? { dtype: 'float32', dims: [items, ...v.base.shape.slice(1)], data: new Float32Array(0) } : v!, node));
      continue;
    }
    if (step.kind === 'host') {
      HOST_OPS[node.opType](ins as (OnnxArray | null)[], node).forEach((o, i) => values.set(node.outputs[i], o));
      continue;
    }
    let boxedOut: { out: Boxed; last: OnnxNode } | null = null;
    const first = ins[0];
    if (isBoxed(first) && ins.slice(1).every((v) => !isBoxed(v)) && ['Conv', 'MaxPool', 'AveragePool'].includes(node.opType)) boxedOut = sliding(node, first, ins);
    else if (ins.some(isBoxed) && (ELEMENTWISE.has(node.opType) || node.opType === 'Concat') && node.outputs.length === 1) {
      const out = elementwise(node, ins);
      if (out) boxedOut = { out, last: node };
    }
    if (boxedOut) {
      const { out, last } = boxedOut;
      const [, , PH, PW] = out.patch.shape, [, , H, W] = out.base.shape;
      values.set(last.outputs[0], PH * PW >= maxFraction * H * W ? materialize(out) : out);
      markChain(plan, node, last, done);
      continue;
    }
    // The general path, on whole maps.
    const flatIns = ins.map(flat);
    if (node.opType === 'Conv') {
      const { y, last } = convChain(node, node, flatIns);
      values.set(last.outputs[0], y);
      markChain(plan, node, last, done);
      continue;
    }
    GPU_OPS[node.opType](flatIns, node, env).forEach((o, i) => { if (node.outputs[i]) values.set(node.outputs[i], o); });
  }
  const y = flat(values.get(plan.outputName) ?? null);
  if (!(y instanceof Tensor)) throw new Error(`the output '${plan.outputName}' is not computed on the GPU`);
  return y;
}

/** Per BaseMaps, the last node each sliding node's chain ran to on the whole map. */
const chainEnds = new WeakMap<BaseMaps, Map<OnnxNode, OnnxNode>>();

/** Marks the BatchNorm and activation a fused Conv ran as done. */
function markChain(plan: GraphPlan, node: OnnxNode, last: OnnxNode, done: Set<OnnxNode>): void {
  if (last === node) return;
  const f = plan.fusions.get(node);
  for (const s of [f?.bn, f?.act]) if (s) done.add(s.node);
}
