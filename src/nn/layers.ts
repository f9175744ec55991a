import type { GpuContext } from '../gpu/device.ts';
import { Tensor, keep } from '../autograd/tensor.ts';
import * as ops from '../autograd/ops/index.ts';
import { Module } from './module.ts';

export class Conv2d extends Module {
  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number,
    readonly options: { stride?: number; padding?: number; dilation?: number; bias?: boolean } = {}) {
    super();
    this.slot('weight', [outChannels, inChannels, kernelSize, kernelSize]);
    if (options.bias) this.slot('bias', [outChannels]);
  }
  private checkInput(x: Tensor): void {
    if (x.rank !== 4 || x.shape[1] !== this.inChannels) {
      throw new Error(`${this.name || 'Conv2d'}: expected input [N, ${this.inChannels}, H, W], got [${x.shape.join(', ')}]`);
    }
  }
  forward(x: Tensor): Tensor {
    this.checkInput(x);
    return ops.conv2d(x, this.param('weight'), this.options.bias ? this.param('bias') : null, this.options);
  }
  /** The gradient to an input of shape `inputShape` from gradient `g` at the output (linear in g; src/nn/stem.ts). */
  inputGradient(g: Tensor, inputShape: readonly number[]): Tensor {
    const w = this.param('weight');
    return ops.conv2dGradInput(g, w, ops.convGeometry(inputShape, w.shape, this.options));
  }
  /**
   * relu(bn(conv(x)) + residual) (the ReLU and residual optional) in one pass (ops.conv2dAffine), no
   * hooks: convBn decides when a model may take it. `unpadded`: windows already cut with their
   * padding (src/nn/boxed.ts). With `convSettings.epilogue = 'off'`, the convolution and the
   * BatchNorm's kernel apart (the same bits).
   */
  forwardWithBatchNorm(x: Tensor, bn: BatchNorm2d, relu: boolean, residual: Tensor | null, unpadded = false): Tensor {
    this.checkInput(x);
    const w = this.param('weight'), b = this.options.bias ? this.param('bias') : null;
    const opts = unpadded ? { ...this.options, padding: 0 } : this.options;
    if (ops.convSettings.epilogue === 'off') return bn.affine(ops.conv2d(x, w, b, opts), relu, residual);
    const { scale, shift } = bn.affineParameters();
    return ops.conv2dAffine(x, w, b, opts, scale, shift, { residual, activation: relu ? 'relu' : null });
  }
}

/** BatchNorm2d in inference mode (running statistics): a per-channel affine map. */
export class BatchNorm2d extends Module {
  private scale: Tensor | null = null;
  private shift: Tensor | null = null;
  constructor(readonly channels: number, readonly eps = 1e-5) {
    super();
    for (const n of ['weight', 'bias', 'running_mean', 'running_var']) this.slot(n, [channels]);
    this.slot('num_batches_tracked', [], true);
  }
  protected override loaded(ctx: GpuContext): void {
    const host = (n: string) => this.slots.get(n)?.host?.data as Float32Array | undefined;
    const w = host('weight'), b = host('bias'), m = host('running_mean'), v = host('running_var');
    if (!w || !b || !m || !v) return;
    const scale = new Float32Array(this.channels), shift = new Float32Array(this.channels);
    for (let c = 0; c < this.channels; c++) {
      // In float64, as PyTorch's CPU kernel computes the inverse standard deviation.
      const s = w[c] / Math.sqrt(v[c] + this.eps);
      scale[c] = s;
      shift[c] = b[c] - m[c] * s;
    }
    this.releaseDerived();
    this.scale = keep(ops.fromArray(ctx, scale, [this.channels]));
    this.shift = keep(ops.fromArray(ctx, shift, [this.channels]));
  }
  protected override releaseDerived(): void {
    this.scale?.release();
    this.shift?.release();
    this.scale = this.shift = null;
  }
  forward(x: Tensor): Tensor {
    return this.affine(x, false);
  }
  /** The BatchNorm, optionally with a residual added and a ReLU, in the same kernel. */
  affine(x: Tensor, relu: boolean, residual: Tensor | null = null): Tensor {
    const { scale, shift } = this.affineParameters();
    return ops.channelAffine(x, scale, shift, relu ? 'relu' : null, residual);
  }
  /** The per-channel scale and shift it applies. */
  affineParameters(): { scale: Tensor; shift: Tensor } {
    if (!this.scale || !this.shift) throw new Error(`${this.name || 'BatchNorm2d'}: load weights first`);
    return { scale: this.scale, shift: this.shift };
  }
}

/**
 * ReLU. `rule` changes only its backward pass, as Captum's GuidedBackprop and Deconvolution do with
 * hooks: 'guided' also zeroes negative gradients, 'deconv' passes the ReLU of the gradient.
 */
export class ReLU extends Module {
  rule: 'standard' | 'guided' | 'deconv' = 'standard';
  forward(x: Tensor): Tensor {
    return this.rule === 'standard' ? ops.relu(x) : ops.reluWithRule(x, this.rule);
  }
}

export class MaxPool2d extends Module {
  constructor(readonly options: ops.MaxPoolOptions) { super(); }
  forward(x: Tensor): Tensor { return ops.maxPool2d(x, this.options); }
}

/** AdaptiveAvgPool2d((1, 1)): the only output size ResNets use. */
export class AdaptiveAvgPool2d extends Module {
  forward(x: Tensor): Tensor { return ops.adaptiveAvgPool2d1(x); }
}

export class Flatten extends Module {
  forward(x: Tensor): Tensor { return ops.flatten(x); }
}

export class Linear extends Module {
  constructor(readonly inFeatures: number, readonly outFeatures: number, readonly bias = true) {
    super();
    this.slot('weight', [outFeatures, inFeatures]);
    if (bias) this.slot('bias', [outFeatures]);
  }
  forward(x: Tensor): Tensor {
    return ops.linear(x, this.param('weight'), this.bias ? this.param('bias') : null);
  }
}

/** Children named 0, 1, 2, ... run in order. */
export class Sequential extends Module {
  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => this.addChild(String(i), m));
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.children.values()) y = m.call(y);
    return y;
  }
}

/**
 * relu(bn(x)) in one kernel when nothing needs the two apart: a hook on either module (layer
 * capture) or a ReLU backward rule (GuidedBackprop) runs them separately, as modules.
 */
export function bnRelu(bn: BatchNorm2d, relu: ReLU, x: Tensor): Tensor {
  if (bn.hooked || relu.hooked || relu.rule !== 'standard') return relu.call(bn.call(x));
  return bn.affine(x, true);
}

/**
 * A ResNet block's step: bn(conv(x)), then + identity, then relu (each optional), in one pass (the
 * convolution's epilogue) when nothing needs its parts apart; with a hook on the convolution
 * (Grad-CAM's layer, say) the convolution runs as a module and the rest in one kernel; with a hook
 * on the BatchNorm or the ReLU, or a ReLU backward rule, each part runs as a module.
 */
export function convBn(conv: Conv2d, bn: BatchNorm2d, x: Tensor, relu: ReLU | null = null, identity: Tensor | null = null): Tensor {
  if (bn.hooked || relu?.hooked || (relu && relu.rule !== 'standard')) {
    const y = bn.call(conv.call(x));
    const sum = identity ? ops.add(y, identity) : y;
    return relu ? relu.call(sum) : sum;
  }
  if (conv.hooked) return bn.affine(conv.call(x), !!relu, identity);
  return conv.forwardWithBatchNorm(x, bn, !!relu, identity);
}
