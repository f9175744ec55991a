import type { GpuContext } from '../gpu/device.ts';
import type { Activation } from './ops/nn.ts';

/** A GPU buffer shared by a tensor and its views (reshape), freed when the last one is released. */
class Storage {
  refs = 1;
  constructor(readonly ctx: GpuContext, public buffer: GPUBuffer | null) {}
  release(): void {
    if (--this.refs === 0 && this.buffer) {
      this.ctx.pool.release(this.buffer);
      this.buffer = null;
    }
  }
}

/** What produced a tensor, and how to send a gradient back through it. */
export interface GradNode {
  op: string;
  inputs: Tensor[];
  /**
   * Gradients of the loss with respect to each input, given the gradient with respect to the output.
   * `needs[i]` is false where input i takes no gradient, so the rule can skip that work (a convolution
   * asked only for its input gradient computes no weight gradient). Returns null where not needed.
   */
  backward: (grad: Tensor, needs: boolean[], options: BackwardOptions) => (Tensor | null)[];
  /**
   * Set where the rule begins by mapping the gradient through a BatchNorm and activation's backward,
   * g -> activationGrad(g, y) * scale[channel] with y this node's output (kernels/channel.wgsl): the
   * one consumer of the output may apply that map as it writes its input gradient, sparing a pass.
   */
  outputAffine?: { scale: Tensor; activation: Activation };
  /** Per input: whether the rule can apply the input's producer's outputAffine (BackwardOptions.applyInputAffine). */
  appliesInputAffine?: boolean[];
}

/** What the reverse pass (grad.ts) decided about outputAffine maps for one backward call. */
export interface BackwardOptions {
  /** The incoming gradient already has this node's outputAffine applied (by its consumer). */
  affineApplied: boolean;
  /** Per input: apply its producer's outputAffine to the gradient returned for it. */
  applyInputAffine: boolean[];
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A float32 tensor on the GPU, row-major (NCHW for images). */
export class Tensor {
  readonly size: number;
  node: GradNode | null = null;
  requiresGrad = false;
  /** Set by backward() on tensors that require grad and were asked for, as in PyTorch. */
  grad: Tensor | null = null;
  /** Forms of this tensor that kernels read (a conv weight permuted for vec4 loads), freed with it. */
  readonly derived = new Map<string, Tensor>();
  private storage: Storage;

  constructor(readonly ctx: GpuContext, readonly shape: readonly number[], storage?: Storage) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`invalid tensor shape [${shape.join(', ')}]`);
    }
    this.size = sizeOf(shape);
    this.storage = storage ?? new Storage(ctx, ctx.pool.acquire(Math.max(4, this.size * 4)));
    scopes.track(this);
  }

  get buffer(): GPUBuffer {
    const b = this.storage.buffer;
    if (!b) throw new Error(`use of a released tensor of shape [${this.shape.join(', ')}]`);
    return b;
  }

  private isReleased = false;
  get released(): boolean {
    return this.isReleased;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** A tensor with another shape over the same data (no copy). */
  view(shape: readonly number[]): Tensor {
    if (sizeOf(shape) !== this.size) throw new Error(`cannot view [${this.shape.join(', ')}] as [${shape.join(', ')}]`);
    this.storage.refs++;
    return new Tensor(this.ctx, shape, this.storage);
  }

  /** A view with another shape that takes over this tensor's reference (this one is released). */
  reshapeInto(shape: readonly number[]): Tensor {
    const v = this.view(shape);
    this.release();
    return v;
  }

  /** Reads the values back to the CPU. */
  async data(): Promise<Float32Array> {
    return new Float32Array(await this.ctx.read(this.buffer, this.size * 4));
  }

  /** Returns the buffer to the pool. Safe to call twice. */
  release(): void {
    if (this.isReleased) return;
    this.isReleased = true;
    this.storage.release();
    this.grad?.release();
    this.grad = null;
    for (const d of this.derived.values()) d.release();
    this.derived.clear();
  }

  toString(): string {
    return `Tensor[${this.shape.join(', ')}]`;
  }
}

/**
 * Scopes, like tf.tidy: tensors created inside `tidy(fn)` are released when it returns, except those
 * it returns (in an array or object) and those marked with `keep`. A loop of forward and backward
 * passes inside tidy therefore ends with the pool's live bytes where it started. `fn` may be async;
 * scopes form one stack, so async tidies must be awaited one at a time, not interleaved.
 */
class ScopeStack {
  private stack: Set<Tensor>[] = [];
  private kept = new WeakSet<Tensor>();
  track(t: Tensor): void {
    this.stack[this.stack.length - 1]?.add(t);
  }
  keep<T extends Tensor>(t: T): T {
    this.kept.add(t);
    return t;
  }
  unkeep<T extends Tensor>(t: T): T {
    this.kept.delete(t);
    this.track(t);
    return t;
  }
  enter(): void {
    this.stack.push(new Set());
  }
  exit(result: unknown): void {
    const scope = this.stack.pop()!;
    const out = new Set<Tensor>();
    collectTensors(result, out);
    const parent = this.stack[this.stack.length - 1];
    for (const t of scope) {
      if (out.has(t) || this.kept.has(t)) parent?.add(t);
      else t.release();
    }
  }
}

function collectTensors(v: unknown, out: Set<Tensor>, depth = 0): void {
  if (depth > 4 || v === null || typeof v !== 'object') return;
  if (v instanceof Tensor) {
    out.add(v);
    if (v.grad) out.add(v.grad);
    return;
  }
  for (const x of Array.isArray(v) ? v : Object.values(v)) collectTensors(x, out, depth + 1);
}

const scopes = new ScopeStack();

export function tidy<T>(fn: () => T): T;
export function tidy<T>(fn: () => Promise<T>): Promise<T>;
export function tidy<T>(fn: () => T | Promise<T>): T | Promise<T> {
  scopes.enter();
  let result: T | Promise<T>;
  try {
    result = fn();
  } catch (e) {
    scopes.exit(undefined);
    throw e;
  }
  if (result instanceof Promise) {
    return result.then((r) => (scopes.exit(r), r), (e) => { scopes.exit(undefined); throw e; });
  }
  scopes.exit(result);
  return result;
}

/** Keeps a tensor alive past the end of every enclosing tidy: its owner releases it by hand. */
export function keep<T extends Tensor>(t: T): T {
  return scopes.keep(t);
}

/**
 * Hands a kept tensor back to tidy: it becomes the innermost open scope's (released when that scope
 * ends unless returned from it), or the caller's outside any tidy. What an attribution method returns
 * goes through this, so a caller's tidy frees results it does not return.
 */
export function unkeep<T extends Tensor>(t: T): T {
  return scopes.unkeep(t);
}
