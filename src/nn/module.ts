import type { GpuContext } from '../gpu/device.ts';
import { Tensor, keep } from '../autograd/tensor.ts';
import { fromArray } from '../autograd/ops/index.ts';
import type { HostTensor, StateDict } from '../io/host-tensor.ts';

/** Called after a module's forward; may return a replacement output (how layer attribution captures and how rules swap). */
export type ForwardHook = (module: Module, input: Tensor, output: Tensor) => Tensor | void;

/**
 * A module tree with PyTorch's dotted names: children by name, parameters and buffers by name, so
 * `layer3.1.conv2` and `layer4.0.downsample.0` address what they address in torchvision, and a
 * state_dict loads with the same keys.
 */
export abstract class Module {
  readonly children = new Map<string, Module>();
  /** Parameters and buffers by their state_dict names, with the shape each expects. */
  protected readonly slots = new Map<string, { shape: number[]; optional?: boolean; value: Tensor | null; host?: HostTensor }>();
  private hooks: ForwardHook[] = [];
  name = '';

  abstract forward(x: Tensor): Tensor;

  /** Runs forward and then the hooks, as module(x) in PyTorch. */
  call(x: Tensor): Tensor {
    let y = this.forward(x);
    for (const h of this.hooks) y = h(this, x, y) ?? y;
    return y;
  }

  /** Whether hooks watch this module (then fused fast paths must not skip its own output). */
  get hooked(): boolean {
    return this.hooks.length > 0;
  }

  /** Adds a hook; returns a function that removes it. */
  registerForwardHook(hook: ForwardHook): () => void {
    this.hooks.push(hook);
    return () => {
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  protected addChild<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  protected slot(name: string, shape: number[], optional = false): void {
    this.slots.set(name, { shape, optional, value: null });
  }

  protected param(name: string): Tensor {
    const s = this.slots.get(name);
    if (!s?.value) throw new Error(`module ${this.name || this.constructor.name}: '${name}' has no value; load weights first`);
    return s.value;
  }

  protected has(name: string): boolean {
    return !!this.slots.get(name)?.value;
  }

  /** Every module with its dotted name ('' for the root), parents first. */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [n, c] of this.children) yield* c.namedModules(prefix ? `${prefix}.${n}` : n);
  }

  /** The module at a dotted name, or an error that lists what exists near it. */
  get(path: string): Module {
    const all = new Map(this.namedModules());
    const found = all.get(path);
    if (found && path) return found;
    // The longest existing prefix, and the names at the requested depth below it.
    const parts = path.split('.');
    let k = parts.length - 1;
    while (k > 0 && !all.has(parts.slice(0, k).join('.'))) k--;
    const prefix = parts.slice(0, k).join('.');
    const near = [...all.keys()].filter((n) => n && (!prefix || n.startsWith(prefix + '.')) && n.split('.').length === parts.length).slice(0, 16);
    throw new Error(`no layer named '${path}' in this model${near.length ? `; layers there: ${near.join(', ')}` : ''}`);
  }

  /** state_dict keys with their expected shapes. */
  expectedKeys(): Map<string, { shape: number[]; optional?: boolean }> {
    const out = new Map<string, { shape: number[]; optional?: boolean }>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [n, s] of m.slots) out.set(prefix ? `${prefix}.${n}` : n, s);
    }
    return out;
  }

  /**
   * Loads weights by name. Strict by default: every missing, unexpected and mis-shaped key is
   * listed in one error, and nothing is loaded unless all match.
   */
  loadStateDict(ctx: GpuContext, dict: StateDict, strict = true): void {
    const expected = this.expectedKeys();
    const missing: string[] = [], unexpected: string[] = [], misshaped: string[] = [], mistyped: string[] = [];
    for (const [k, s] of expected) {
      const t = dict.get(k);
      if (!t) { if (!s.optional && !k.endsWith('num_batches_tracked')) missing.push(k); continue; }
      const same = t.shape.length === s.shape.length && t.shape.every((d, i) => d === s.shape[i]);
      if (!same && !(t.shape.length === 0 && s.shape.length === 0)) misshaped.push(`${k}: file [${t.shape.join(', ')}], model [${s.shape.join(', ')}]`);
      if (t.dtype !== 'F32' && !k.endsWith('num_batches_tracked')) mistyped.push(`${k} (${t.dtype === 'I64' ? 'int64' : t.dtype})`);
    }
    if (mistyped.length) throw new Error(`the weights must be floating point, but ${mistyped.slice(0, 5).join(', ')}${mistyped.length > 5 ? ', ...' : ''} ${mistyped.length > 1 ? 'are' : 'is'} not: save them with model.float().state_dict()`);
    for (const k of dict.keys()) if (!expected.has(k)) unexpected.push(k);
    if (strict && (missing.length || unexpected.length || misshaped.length)) {
      const part = (title: string, l: string[]) => (l.length ? `\n  ${title} (${l.length}): ${l.slice(0, 20).join(', ')}${l.length > 20 ? ', ...' : ''}` : '');
      throw new Error(`the weights do not fit this model:${part('missing', missing)}${part('unexpected', unexpected)}${part('wrong shape', misshaped)}`);
    }
    if (misshaped.length) throw new Error(`the weights do not fit this model: wrong shape: ${misshaped.join('; ')}`);
    for (const [prefix, m] of this.namedModules()) {
      for (const [n, s] of m.slots) {
        const t = dict.get(prefix ? `${prefix}.${n}` : n);
        if (!t) continue;
        s.value?.release();
        s.host = t;
        s.value = t.dtype === 'F32' ? keep(fromArray(ctx, t.data as Float32Array, t.shape)) : null;
      }
      m.loaded(ctx);
    }
  }

  /** The weights as a state_dict (host copies of what was loaded). */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const [prefix, m] of this.namedModules()) {
      for (const [n, s] of m.slots) if (s.host) out.set(prefix ? `${prefix}.${n}` : n, s.host);
    }
    return out;
  }

  /** Called after weights are loaded, to derive what the forward uses (BatchNorm's scale and shift). */
  protected loaded(_ctx: GpuContext): void {}

  /** Frees every GPU tensor of the tree. */
  release(): void {
    for (const [, m] of this.namedModules()) {
      for (const s of m.slots.values()) { s.value?.release(); s.value = null; }
      m.releaseDerived();
    }
  }
  protected releaseDerived(): void {}
}

/** Assigns every module its dotted name (for messages). */
export function nameModules(root: Module): void {
  for (const [n, m] of root.namedModules()) m.name = n;
}
