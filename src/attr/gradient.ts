import { Tensor, tidy, keep } from '../autograd/index.ts';
import * as ops from '../autograd/ops/index.ts';
import { Module } from '../nn/module.ts';
import { ReLU } from '../nn/layers.ts';
import { type ForwardFunc, type Target, asFunction, checkImageBatch, gradientOfTargets, resolveTargets } from './common.ts';

export interface GradientOptions {
  target?: Target;
}

/** Captum's Saliency: the gradient of the target score with respect to the input, by default its absolute value. */
export class Saliency {
  private forward: (x: Tensor) => Tensor;
  constructor(forwardFunc: ForwardFunc) {
    this.forward = asFunction(forwardFunc);
  }
  async attribute(inputs: Tensor, opts: GradientOptions & { abs?: boolean } = {}): Promise<Tensor> {
    checkImageBatch(inputs, 'Saliency');
    const targets = await resolveTargets(this.forward, inputs, opts.target, 'Saliency');
    return tidy(() => {
      const { grads } = gradientOfTargets(this.forward, inputs, targets);
      return opts.abs === false ? grads : ops.abs(grads);
    });
  }
}

/** Captum's InputXGradient: input times the gradient of the target score. */
export class InputXGradient {
  private forward: (x: Tensor) => Tensor;
  constructor(forwardFunc: ForwardFunc) {
    this.forward = asFunction(forwardFunc);
  }
  async attribute(inputs: Tensor, opts: GradientOptions = {}): Promise<Tensor> {
    checkImageBatch(inputs, 'InputXGradient');
    const targets = await resolveTargets(this.forward, inputs, opts.target, 'InputXGradient');
    return tidy(() => ops.mul(gradientOfTargets(this.forward, inputs, targets).grads, inputs));
  }
}

/**
 * Runs fn with every ReLU module of the model switched to a backward rule, as Captum's
 * ModifiedReluGradientAttribution does with hooks, and restores them afterwards.
 */
export async function withReluRule<T>(model: ForwardFunc, rule: 'guided' | 'deconv', method: string, fn: () => Promise<T>): Promise<T> {
  if (!(model instanceof Module)) throw new Error(`${method} needs the model as a Module (its ReLU modules are overridden), not a function`);
  const relus = [...model.namedModules()].map(([, m]) => m).filter((m): m is ReLU => m instanceof ReLU);
  if (!relus.length) throw new Error(`${method}: the model has no ReLU modules to override`);
  const before = relus.map((r) => r.rule);
  relus.forEach((r) => (r.rule = rule));
  try {
    return await fn();
  } finally {
    relus.forEach((r, i) => (r.rule = before[i]));
  }
}

/** Captum's GuidedBackprop: gradients where every ReLU also passes back only positive gradients. */
export class GuidedBackprop {
  constructor(private model: ForwardFunc) {}
  attribute(inputs: Tensor, opts: GradientOptions = {}): Promise<Tensor> {
    return withReluRule(this.model, 'guided', 'GuidedBackprop', () => new Saliency(this.model).attribute(inputs, { target: opts.target, abs: false }));
  }
}

/** Captum's Deconvolution: gradients where every ReLU passes back the positive part of its output gradient. */
export class Deconvolution {
  constructor(private model: ForwardFunc) {}
  attribute(inputs: Tensor, opts: GradientOptions = {}): Promise<Tensor> {
    return withReluRule(this.model, 'deconv', 'Deconvolution', () => new Saliency(this.model).attribute(inputs, { target: opts.target, abs: false }));
  }
}
