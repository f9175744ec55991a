/**
 * A model from an ONNX graph: every computing node is a module with the name a PyTorch user knows
 * (`features.11.conv.1.0`), so hooks, layer methods and GuidedBackprop's ReLU rule work as on a
 * ResNet. Shape arithmetic (Shape, Gather, Concat on int64 ...) is folded on the CPU at each forward,
 * from the actual input's shape: a model exported with batch 1 still runs batches.
 */
import { Tensor, keep } from '../autograd/tensor.ts';
import { grad, noGrad } from '../autograd/grad.ts';
import type { LinearStem } from './stem.ts';
import * as ops from '../autograd/ops/index.ts';
import type { GpuContext } from '../gpu/device.ts';
import { type OnnxArray, type OnnxModel, type OnnxNode, type ReadOnnxOptions, readOnnx } from '../io/onnx.ts';
import { Module } from './module.ts';
import { ReLU } from './layers.ts';
import { GPU_OPS, HOST_OPS, type OpEnv, type Value, batchNormActivation, convEpilogue, shapeOf } from './onnx-ops.ts';
import { convSettings } from '../autograd/ops/conv.ts';
import { winograd } from '../autograd/ops/winograd.ts';
import type { BaseMaps, Boxed } from './boxed.ts';
import { boxedGraphForward } from './graph-boxed.ts';

/** A node that computes on the GPU: its module runs the op, with the node's other inputs alongside. */
class NodeModule extends Module {
  pending: (Value | null)[] = [];
  extra: Tensor[] = [];
  constructor(readonly node: OnnxNode, private env: OpEnv) {
    super();
  }
  forward(x: Tensor): Tensor {
    let outs: Tensor[];
    try {
      // A constant first input (Gather's table) stays a constant for the op; hooks see it uploaded.
      outs = GPU_OPS[this.node.opType]([this.pending[0] instanceof Tensor ? x : this.pending[0], ...this.pending.slice(1)], this.node, this.env);
    } catch (e) {
      const where = `${this.node.opType} node '${this.node.name}'`;
      throw (e as Error).message.startsWith(where) ? e : new Error(`${where}: ${(e as Error).message}`);
    }
    this.extra = outs.slice(1);
    return outs[0];
  }
}

/** A Relu node is a ReLU module, so that GuidedBackprop and Deconvolution find and override it. */
class ReluNode extends ReLU {
  pending: (Value | null)[] = [];
  extra: Tensor[] = [];
  constructor(readonly node: OnnxNode) {
    super();
  }
}

type GpuStep = { node: OnnxNode; kind: 'gpu'; module: NodeModule | ReluNode };
type Step = { node: OnnxNode; kind: 'host' } | { node: OnnxNode; kind: 'shape' } | GpuStep;
/** A Conv whose only consumer is a BatchNormalization and/or an activation (Relu, Clip), each the only consumer of the one before: one kernel when nothing hooks them. */
interface Fusion { bn: GpuStep | null; act: GpuStep | null }

/** Whether an activation step may run inside a fused kernel: no hook watches it and its ReLU rule is the standard one (not GuidedBackprop's). */
const fusibleActivation = (s: GpuStep) => !s.module.hooked && !(s.module instanceof ReluNode && s.module.rule !== 'standard');

/** A fused step's node and inputs, with the output of the step before it (`from`, computed in the same kernel) left out as null. */
function fusedPart(s: GpuStep, from: GpuStep, get: (n: string, node: OnnxNode) => Value | null): { node: OnnxNode; inputs: (Value | null)[] } {
  return { node: s.node, inputs: s.node.inputs.map((n) => (n === from.node.outputs[0] ? null : get(n, s.node))) };
}

/** The module path of a node: from its parameters' names (`features.0.0.weight`), else torch's scoped node name (`/features/features.0/features.0.2/Clip`). */
function modulePath(node: OnnxNode, initializers: Map<string, OnnxArray>): string | null {
  for (const i of node.inputs) {
    const m = /^(.+)\.(weight|bias|running_mean|running_var)$/.exec(i);
    if (m && initializers.has(i) && !i.startsWith('onnx::')) return m[1];
  }
  if (!node.name.startsWith('/')) return null;
  const scopes = node.name.split('/').slice(1, -1);
  if (!scopes.length) return null;
  let path = '', last = '';
  for (const s of scopes) {
    const part = last && s.startsWith(`${last}.`) ? s.slice(last.length + 1) : s;
    path = path ? `${path}.${part}` : part;
    last = s;
  }
  return path;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const t = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = t;
    }
  }
  return d[b.length];
}

export interface LayerInfo {
  name: string;
  opType: string;
  node: string;
  shape: number[];
}

export class GraphModel extends Module {
  readonly inputName: string;
  readonly outputName: string;
  private steps: Step[] = [];
  private constants = new Map<string, OnnxArray>();
  private aliases = new Map<string, Module>();
  private uploads = new Map<OnnxArray, Tensor>();
  private env: OpEnv;
  private fusions = new Map<OnnxNode, Fusion>();
  /** BatchNormalization -> Relu or Clip, the activation the BatchNorm's only reader: one kernel where no Conv's fusion took the BatchNorm. */
  private normActivations = new Map<OnnxNode, GpuStep>();
  /** The file's bytes when they hold the whole model (no external data): what the explorer's in-browser mode loads. */
  sourceBytes: Uint8Array | null = null;
  /**
   * With several inputs, their shapes without the batch: call() then takes them packed as one tensor
   * [N, sum of their sizes], each flattened, in the graph's input order (packInputs). Every attribution
   * method works on the packed tensor unchanged; its attributions split back the same way.
   */
  readonly inputShapes: number[][] | null;

  constructor(readonly ctx: GpuContext, readonly onnx: OnnxModel, readonly source = 'model.onnx') {
    super();
    if (onnx.inputs.length < 1) throw new Error(`${source} has no input`);
    if (onnx.outputs.length < 1) throw new Error(`${source} has no output`);
    this.inputShapes = onnx.inputs.length > 1 ? onnx.inputs.map((i) => {
      const dims = i.shape?.slice(1) ?? [];
      if (!i.shape || dims.some((d) => typeof d !== 'number')) {
        throw new Error(`${source}'s input '${i.name}' is [${i.shape?.map((d) => d ?? '?').join(', ') ?? '?'}]: a model of several inputs needs each one's size fixed but for the batch (export with fixed shapes)`);
      }
      return dims as number[];
    }) : null;
    this.inputName = onnx.inputs[0].name;
    this.outputName = onnx.outputs[0].name;
    this.env = { ctx, opset: onnx.opset, upload: (v) => this.upload(v), derived: (node, key, make) => this.derivedConstant(node, key, make) };
    for (const [k, v] of onnx.initializers) this.constants.set(k, v);
    this.build();
    this.stable = new Set(this.constants.values());
  }

  /** Initializers and Constant values: uploaded once and kept. Values folded at each forward are uploaded per use (tidy frees them). */
  private stable = new Set<OnnxArray>();
  private derivedTensors = new Map<OnnxNode, Map<string, Tensor>>();

  private toGpu(v: OnnxArray): Tensor {
    if (v.dtype !== 'float32') throw new Error('an int64 constant cannot be a float input');
    return noGrad(() => ops.fromArray(this.ctx, v.data as Float32Array, v.dims.length ? v.dims : [1]));
  }

  private upload(v: OnnxArray): Tensor {
    if (!this.stable.has(v)) return this.toGpu(v);
    let t = this.uploads.get(v);
    if (!t) this.uploads.set(v, (t = keep(this.toGpu(v))));
    return t;
  }

  private derivedConstant(node: OnnxNode, key: string, make: () => OnnxArray): Tensor {
    let m = this.derivedTensors.get(node);
    if (!m) this.derivedTensors.set(node, (m = new Map()));
    let t = m.get(key);
    if (!t) m.set(key, (t = keep(this.toGpu(make()))));
    return t;
  }

  private build(): void {
    const host = new Set(this.constants.keys());
    const unknown = new Map<string, string>();
    const paths = new Map<string, number>(); // module path -> index of the last node that claims it
    const gpuNodes: { node: OnnxNode; path: string | null }[] = [];
    for (const node of this.onnx.nodes) {
      if (node.domain && node.domain !== 'ai.onnx') { unknown.set(`${node.domain}.${node.opType}`, node.name); continue; }
      if (node.opType === 'Constant') {
        this.constants.set(node.outputs[0], constantValue(node));
        host.add(node.outputs[0]);
        continue;
      }
      const ins = node.inputs.filter((i) => i !== '');
      if (node.opType === 'Shape') { this.steps.push({ node, kind: 'shape' }); host.add(node.outputs[0]); continue; }
      if (ins.every((i) => host.has(i)) && HOST_OPS[node.opType]) {
        this.steps.push({ node, kind: 'host' });
        node.outputs.forEach((o) => host.add(o));
        continue;
      }
      if (!GPU_OPS[node.opType]) { if (!unknown.has(node.opType)) unknown.set(node.opType, node.name); continue; }
      const path = modulePath(node, this.onnx.initializers);
      if (path) paths.set(path, gpuNodes.length);
      gpuNodes.push({ node, path });
    }
    if (unknown.size) {
      throw new Error(`${this.source} uses ${unknown.size} operator type(s) Glimpse does not support (opset ${this.onnx.opset}): ${[...unknown].map(([op, n]) => `${op} (node '${n}')`).join(', ')}`);
    }
    const used = new Set<string>();
    gpuNodes.forEach(({ node, path }, i) => {
      const name = path && paths.get(path) === i && !used.has(path) ? path : used.has(node.name) ? `${node.name}:${node.outputs[0]}` : node.name;
      used.add(name);
      const module = node.opType === 'Relu' ? new ReluNode(node) : new NodeModule(node, this.env);
      module.name = name;
      this.addChild(name, module);
      for (const alias of [node.name, ...node.outputs]) if (alias && alias !== name && !this.aliases.has(alias)) this.aliases.set(alias, module);
    });
    // Steps in the graph's (topological) order.
    const byNode = new Map([...this.children.values()].map((m) => [(m as NodeModule).node, m as NodeModule | ReluNode]));
    const order = new Map(this.onnx.nodes.map((n, i) => [n, i]));
    for (const [node, module] of byNode) this.steps.push({ node, kind: 'gpu', module });
    this.steps.sort((a, b) => order.get(a.node)! - order.get(b.node)!);
    this.planFusions();
  }

  /**
   * Decided once on the graph, as ONNX Runtime's optimizer does: Conv -> BatchNormalization -> Relu or
   * Clip chains (either part optional) with no other reader, and BatchNormalization -> Relu or Clip.
   */
  private planFusions(): void {
    const readers = new Map<string, number>();
    for (const n of this.onnx.nodes) for (const i of n.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
    for (const o of this.onnx.outputs) readers.set(o.name, (readers.get(o.name) ?? 0) + 1);
    const gpu = this.steps.filter((s): s is GpuStep => s.kind === 'gpu');
    const byInput = new Map<string, GpuStep>();
    for (const s of gpu) if (s.node.inputs[0]) byInput.set(s.node.inputs[0], s);
    const soleReader = (s: GpuStep, ops: string[]) => {
      const next = readers.get(s.node.outputs[0]) === 1 ? byInput.get(s.node.outputs[0]) : undefined;
      return next && ops.includes(next.node.opType) ? next : null;
    };
    for (const conv of gpu) {
      if (conv.node.opType !== 'Conv') continue;
      const bn = soleReader(conv, ['BatchNormalization']);
      const act = soleReader(bn ?? conv, ['Relu', 'Clip']);
      if (bn || act) this.fusions.set(conv.node, { bn, act });
    }
    for (const bn of gpu) {
      const act = bn.node.opType === 'BatchNormalization' ? soleReader(bn, ['Relu', 'Clip']) : null;
      if (act) this.normActivations.set(bn.node, act);
    }
  }

  /** Runs the graph on a batch; returns its first output (the scores, [N, classes] for a classifier). */
  forward(x: Tensor): Tensor {
    return this.run(x, null);
  }

  /**
   * The graph from its input, or (`stem` set) from the stem Conv's output `x` on: the stem is skipped
   * and its BatchNorm and activation, otherwise fused with it, run as steps of their own.
   */
  private run(x: Tensor, stem: OnnxNode | null): Tensor {
    const values = new Map<string, Value>(this.constants);
    if (stem || !this.inputShapes) values.set(stem ? stem.outputs[0] : this.inputName, x);
    else this.unpack(x).forEach((t, i) => values.set(this.onnx.inputs[i].name, t));
    const get = (n: string, node: OnnxNode): Value | null => {
      if (n === '') return null;
      const v = values.get(n);
      if (v === undefined) throw new Error(`${node.opType} node '${node.name}' reads '${n}', which nothing computes`);
      return v;
    };
    const done = new Set<OnnxNode>(stem ? [stem] : []);
    for (const step of this.steps) {
      const { node } = step;
      if (done.has(node)) continue;
      const ins = node.inputs.map((n) => get(n, node));
      if (step.kind === 'gpu' && (this.runFused(step, ins, values, get, done) || this.runNormActivation(step, ins, values, get, done))) continue;
      let outs: Value[];
      if (step.kind === 'shape') outs = [shapeOf(ins[0]!, node)];
      else if (step.kind === 'host') outs = HOST_OPS[node.opType](ins as (OnnxArray | null)[], node);
      else {
        const m = step.module;
        m.pending = ins;
        const first = ins[0] instanceof Tensor ? ins[0] : ins[0] ? this.upload(ins[0]) : null;
        if (!first) throw new Error(`${node.opType} node '${node.name}' has no first input`);
        outs = [m.call(first), ...m.extra];
        m.pending = [];
        m.extra = [];
      }
      node.outputs.forEach((o, i) => { if (o && outs[i] !== undefined) values.set(o, outs[i]); });
    }
    const y = values.get(this.outputName);
    if (!(y instanceof Tensor)) throw new Error(`${this.source}: the output '${this.outputName}' is ${y ? 'a constant' : 'not computed'}`);
    return y;
  }

  /** The graph's inputs from a packed batch [N, sum of sizes]: a slice of columns each, reshaped. */
  private unpack(x: Tensor): Tensor[] {
    const sizes = this.inputShapes!.map((d) => d.reduce((a, b) => a * b, 1)), total = sizes.reduce((a, b) => a + b, 0);
    if (x.rank !== 2 || x.shape[1] !== total) {
      throw new Error(`${this.source} takes its ${sizes.length} inputs (${this.onnx.inputs.map((i) => i.name).join(', ')}) packed as [N, ${total}], each flattened in order; got [${x.shape.join(', ')}]`);
    }
    let at = 0;
    return this.inputShapes!.map((dims, i) => {
      const part = ops.reshape(ops.slice(x, [0, at], [1, 1], [x.shape[0], sizes[i]]), [x.shape[0], ...dims]);
      at += sizes[i];
      return part;
    });
  }

  /** Runs a planned Conv -> BatchNormalization -> activation chain as one kernel, unless a hook or a ReLU rule must see its parts. */
  private runFused(conv: GpuStep, ins: (Value | null)[], values: Map<string, Value>, get: (n: string, node: OnnxNode) => Value | null, done: Set<OnnxNode>): boolean {
    const f = this.fusions.get(conv.node);
    if (!f || convSettings.epilogue === 'off' || conv.module.hooked || f.bn?.module.hooked) return false;
    const act = f.act && fusibleActivation(f.act) ? f.act : null;
    if (!f.bn && !act) return false;
    const part = (s: GpuStep | null, from: GpuStep) => s && fusedPart(s, from, get);
    let y: Tensor | null;
    try {
      y = convEpilogue(ins, conv.node, part(f.bn, conv), part(act, f.bn ?? conv), this.env);
    } catch (e) {
      throw new Error(`Conv node '${conv.node.name}': ${(e as Error).message}`);
    }
    if (!y) return false;
    values.set((act ?? f.bn)!.node.outputs[0], y);
    for (const s of [f.bn, act]) if (s) done.add(s.node);
    return true;
  }

  /** Runs a planned BatchNormalization -> activation pair as one kernel, unless a hook or a ReLU rule must see its parts. */
  private runNormActivation(bn: GpuStep, ins: (Value | null)[], values: Map<string, Value>, get: (n: string, node: OnnxNode) => Value | null, done: Set<OnnxNode>): boolean {
    const act = this.normActivations.get(bn.node);
    if (!act || convSettings.epilogue === 'off' || bn.module.hooked || !fusibleActivation(act)) return false;
    const y = batchNormActivation(ins, bn.node, fusedPart(act, bn, get), this.env);
    if (!y) return false;
    values.set(act.node.outputs[0], y);
    done.add(act.node);
    return true;
  }

  /**
   * IG's linear stem (src/nn/stem.ts) where the graph has one: a Conv that is the input's only reader,
   * with a constant weight, and no hook on any node (a hook could see or change the stem's parts).
   */
  linearStem(): LinearStem | null {
    if (this.inputShapes) return null;
    const readers = this.onnx.nodes.filter((n) => n.inputs.includes(this.inputName));
    const conv = readers.length === 1 && readers[0].opType === 'Conv' ? readers[0] : null;
    const w = conv && this.constants.get(conv.inputs[1]);
    if (!conv || !w || w.dims.length !== 4 || this.onnx.outputs.some((o) => o.name === this.inputName) || [...this.children.values()].some((m) => m.hooked)) return null;
    const convOf = (x: Tensor, bias: boolean) => GPU_OPS.Conv([x, w, bias && conv.inputs[2] ? this.constants.get(conv.inputs[2]) ?? null : null], conv, this.env)[0];
    return {
      stem: (x) => noGrad(() => convOf(x, true)),
      afterStem: (c) => this.run(c, conv),
      // The gradient of an affine map is its linear part's: the convolution without its bias.
      toInput: (g, inputShape) => {
        const x = ops.fill(this.ctx, inputShape, 0);
        x.requiresGrad = true;
        return grad(convOf(x, false), [x], g)[0];
      },
    };
  }

  /**
   * Whether the receptive-field forward (graph-boxed.ts, for Occlusion) computes what call() would: one
   * input, no hook watches a node, and no F(4x4) Winograd forward (whose outputs depend on their whole tile).
   */
  canBox(): boolean {
    return !this.inputShapes && winograd.forwardTile !== 4 && convSettings.epilogue !== 'off' && ![...this.children.values()].some((m) => m.hooked);
  }

  /** Logits of items that differ from `X.base` only inside their boxes (Occlusion's windows); call under noGrad. */
  boxedForward(X: Boxed, bases: BaseMaps): Tensor {
    return boxedGraphForward({ steps: this.steps, fusions: this.fusions, constants: this.constants, env: this.env, inputName: this.inputName, outputName: this.outputName }, X, bases);
  }

  /** A layer by module path, raw node name or output name; an unknown name suggests the three nearest. */
  override get(path: string): Module {
    const all = new Map(this.namedModules());
    const found = (path && all.get(path)) || this.aliases.get(path);
    if (found) return found;
    const names = [...all.keys()].filter((n) => n);
    const near = names.map((n) => [n, editDistance(path, n)] as const).sort((a, b) => a[1] - b[1]).slice(0, 3).map(([n]) => n);
    throw new Error(`no layer named '${path}' in ${this.source}; the nearest: ${near.join(', ')} (glimpse layers --model lists them all)`);
  }

  /** Every layer with its op type and output shape for an input of `shape` (one forward pass with hooks). */
  layers(shape: readonly number[]): LayerInfo[] {
    const shapes = new Map<Module, number[]>();
    const unhook = [...this.children.values()].map((m) => m.registerForwardHook((mod, _x, y) => { shapes.set(mod, [...y.shape]); }));
    try {
      noGrad(() => {
        const x = ops.fill(this.ctx, shape, 0);
        this.call(x).release();
        x.release();
      });
    } finally {
      unhook.forEach((u) => u());
    }
    return [...this.children.entries()].map(([name, m]) => ({ name, opType: (m as NodeModule).node.opType, node: (m as NodeModule).node.name, shape: shapes.get(m) ?? [] }));
  }

  override release(): void {
    for (const t of this.uploads.values()) t.release();
    for (const m of this.derivedTensors.values()) for (const t of m.values()) t.release();
    this.uploads.clear();
    this.derivedTensors.clear();
  }
}

/** Examples of a model of several inputs as its packed batch [N, sum of sizes]: `parts[k][n]` is input k of example n, flattened. */
export function packInputs(parts: ArrayLike<number>[][]): { data: Float32Array; shape: [number, number] } {
  const N = parts[0]?.length ?? 0;
  if (parts.some((p) => p.length !== N)) throw new Error(`packInputs: the inputs hold ${parts.map((p) => p.length).join(', ')} examples; each needs the same number`);
  const width = parts.reduce((t, p) => t + (p[0]?.length ?? 0), 0), data = new Float32Array(N * width);
  for (let n = 0; n < N; n++) {
    let at = n * width;
    for (const p of parts) { data.set(p[n], at); at += p[n].length; }
  }
  return { data, shape: [N, width] };
}

/** The value of a Constant node, from whichever attribute it uses. */
function constantValue(node: OnnxNode): OnnxArray {
  const a = node.attributes;
  const v = a.get('value');
  if (v && typeof v === 'object' && !Array.isArray(v)) return v;
  if (a.has('value_float')) return { dtype: 'float32', dims: [], data: Float32Array.of(a.get('value_float') as number) };
  if (a.has('value_floats')) { const f = a.get('value_floats') as number[]; return { dtype: 'float32', dims: [f.length], data: Float32Array.from(f) }; }
  if (a.has('value_int')) return { dtype: 'int64', dims: [], data: BigInt64Array.of(BigInt(a.get('value_int') as number)) };
  if (a.has('value_ints')) { const i = a.get('value_ints') as number[]; return { dtype: 'int64', dims: [i.length], data: BigInt64Array.from(i, (x) => BigInt(x)) }; }
  throw new Error(`Constant node '${node.name}' has no value Glimpse reads (sparse or string constants are not supported)`);
}

/** The model of an ONNX file's bytes: `loadOnnx(ctx, bytes)`, in a browser as in Node (external data through `opts.externalData`). */
export function loadOnnx(ctx: GpuContext, bytes: Uint8Array, opts: ReadOnnxOptions = {}): GraphModel {
  let external = false;
  const read = opts.externalData;
  const model = new GraphModel(ctx, readOnnx(bytes, { ...opts, externalData: read && ((location) => { external = true; return read(location); }) }), opts.what ?? 'model.onnx');
  if (!external) model.sourceBytes = bytes;
  return model;
}
