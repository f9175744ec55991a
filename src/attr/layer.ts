import { Tensor, grad, tidy, keep, unkeep, noGrad } from '../autograd/index.ts';
import * as ops from '../autograd/ops/index.ts';
import { grid } from '../autograd/ops/launch.ts';
import { Module } from '../nn/module.ts';
import { approximationParameters } from './approximation.ts';
import { type Target, rowsPerPass, checkImageBatch, repeatTargets, resolveTargets } from './common.ts';
import { type IntegratedGradientsOptions, baselineTensor, convergenceDelta } from './integrated-gradients.ts';
import { GuidedBackprop } from './gradient.ts';

/** A layer by dotted name ('layer3.1.conv2') or by module. */
export type LayerRef = string | Module;

function resolveLayer(model: Module, layer: LayerRef, method: string): Module {
  if (!(model instanceof Module)) throw new Error(`${method} needs the model as a Module`);
  if (typeof layer === 'string') return model.get(layer);
  if (!(layer instanceof Module) || ![...model.namedModules()].some(([, m]) => m === layer)) throw new Error(`${method}: the layer is not part of the model`);
  return layer;
}

/**
 * Runs the model with a hook on `layer` that records its output (or, with `input`, its input), and
 * may replace the output. A layer must run once per forward pass: torchvision's blocks call their
 * `relu` module twice, and which call would be meant is ambiguous.
 */
function withLayer<T>(layer: Module, input: boolean, replace: ((out: Tensor) => Tensor) | null, fn: (captured: () => Tensor) => T): T {
  let captured: Tensor | null = null, calls = 0;
  const remove = layer.registerForwardHook((_m, x, y) => {
    calls++;
    captured = input ? x : replace ? replace(y) : y;
    return replace && !input ? captured : undefined;
  });
  try {
    return fn(() => {
      if (calls !== 1) throw new Error(`layer '${layer.name}' ran ${calls} times in one forward pass; layer attribution needs a layer that runs exactly once`);
      return captured!;
    });
  } finally {
    remove();
  }
}

/** Layer activations and d sum_n F[n, target[n]] / d activations, for a batch. */
function layerGradientsAndEvals(model: Module, layer: Module, inputs: Tensor, targets: number[], toInput: boolean): { grads: Tensor; acts: Tensor } {
  // A layer fed by constants and indices alone (an embedding's lookup of token ids) is outside the
  // graph: a leaf copy of its output stands in, as its weight's requires_grad makes it part of PyTorch's.
  const inGraph = (y: Tensor) => {
    if (y.requiresGrad) return y;
    const leaf = ops.affine(y, 1, 0);
    leaf.requiresGrad = true;
    return leaf;
  };
  return withLayer(layer, toInput, toInput ? null : inGraph, (captured) => {
    const leaf = ops.affine(inputs, 1, 0);
    leaf.requiresGrad = true; // so that the layer's output is part of a graph
    const selected = ops.selectTargets(model.call(leaf), targets);
    const acts = captured();
    const [grads] = grad(selected, [acts]);
    return { grads, acts };
  });
}

interface LayerOptions {
  target?: Target;
  attributeToLayerInput?: boolean;
}

/** Captum's LayerActivation: the layer's output (or input) for the inputs. */
export class LayerActivation {
  private layer: Module;
  constructor(private model: Module, layer: LayerRef) {
    this.layer = resolveLayer(model, layer, 'LayerActivation');
  }
  async attribute(inputs: Tensor, opts: { attributeToLayerInput?: boolean } = {}): Promise<Tensor> {
    checkImageBatch(inputs, 'LayerActivation');
    return tidy(() => noGrad(() => withLayer(this.layer, !!opts.attributeToLayerInput, null, (captured) => {
      this.model.call(inputs);
      return ops.affine(captured(), 1, 0);
    })));
  }
}

/** Captum's LayerGradientXActivation: the layer's gradient times its activation (or the gradient alone). */
export class LayerGradientXActivation {
  private layer: Module;
  constructor(private model: Module, layer: LayerRef, readonly multiplyByInputs = true) {
    this.layer = resolveLayer(model, layer, 'LayerGradientXActivation');
  }
  async attribute(inputs: Tensor, opts: LayerOptions = {}): Promise<Tensor> {
    checkImageBatch(inputs, 'LayerGradientXActivation');
    const targets = await resolveTargets((x) => this.model.call(x), inputs, opts.target, 'LayerGradientXActivation');
    return tidy(() => {
      const { grads, acts } = layerGradientsAndEvals(this.model, this.layer, inputs, targets, !!opts.attributeToLayerInput);
      return this.multiplyByInputs ? ops.mul(grads, acts) : grads;
    });
  }
}

export interface LayerGradCamOptions extends LayerOptions {
  reluAttributions?: boolean;
  /** Sum the weighted activations over channels (default), or keep one map per channel. */
  attrDimSummation?: boolean;
}

/**
 * Captum's LayerGradCam: the layer's channels weighted by their gradient averaged over positions,
 * summed over channels: [N, 1, h, w] (or [N, K, h, w] without the summation), optionally through a ReLU.
 */
export class LayerGradCam {
  readonly layer: Module;
  constructor(private model: Module, layer: LayerRef) {
    this.layer = resolveLayer(model, layer, 'LayerGradCam');
  }
  async attribute(inputs: Tensor, opts: LayerGradCamOptions = {}): Promise<Tensor> {
    checkImageBatch(inputs, 'LayerGradCam');
    const targets = await resolveTargets((x) => this.model.call(x), inputs, opts.target, 'LayerGradCam');
    return tidy(() => {
      const { grads, acts } = layerGradientsAndEvals(this.model, this.layer, inputs, targets, !!opts.attributeToLayerInput);
      if (acts.rank !== 4) throw new Error(`LayerGradCam: layer '${this.layer.name}' gives [${acts.shape.join(', ')}]; Grad-CAM needs a [N, C, H, W] layer`);
      const [N, K, h, w] = acts.shape;
      const alpha = ops.sumAxisRaw(grads, N * K, h * w, 1, 1 / (h * w), [N, K]);
      if (opts.attrDimSummation === false) {
        const scaled = ops.mul(ops.broadcastTo(alpha.view([N, K, 1, 1]), acts.shape), acts);
        return opts.reluAttributions ? ops.relu(scaled) : scaled;
      }
      const cam = new Tensor(inputs.ctx, [N, 1, h, w]);
      inputs.ctx.dispatch({ name: 'gradcam', file: 'gradcam', inputs: 2, outputs: 1, defines: { RELU: !!opts.reluAttributions } },
        { inputs: [acts.buffer, alpha.buffer], outputs: [cam.buffer], ints: [N, K, h * w], workgroups: grid(inputs.ctx, N * h * w) });
      return cam;
    });
  }
}

/** Captum's LayerAttribution.interpolate: resizes [N, C, h, w] attributions to the given size. */
export const LayerAttribution = {
  interpolate(attr: Tensor, size: [number, number], interpolateMode: ops.InterpolateMode = 'nearest'): Tensor {
    return tidy(() => noGrad(() => ops.interpolate(attr, size, interpolateMode)));
  },
};

/** Captum's GuidedGradCam: GuidedBackprop times Grad-CAM (with ReLU) upsampled to the input size. */
export class GuidedGradCam {
  private gradcam: LayerGradCam;
  constructor(private model: Module, layer: LayerRef) {
    this.gradcam = new LayerGradCam(model, layer);
  }
  async attribute(inputs: Tensor, opts: LayerOptions & { interpolateMode?: ops.InterpolateMode } = {}): Promise<Tensor> {
    checkImageBatch(inputs, 'GuidedGradCam');
    if (inputs.rank !== 4) throw new Error('GuidedGradCam: inputs must be [N, C, H, W]');
    const targets = await resolveTargets((x) => this.model.call(x), inputs, opts.target, 'GuidedGradCam');
    const cam = await this.gradcam.attribute(inputs, { target: targets, attributeToLayerInput: opts.attributeToLayerInput, reluAttributions: true });
    const guided = await new GuidedBackprop(this.model).attribute(inputs, { target: targets });
    try {
      return tidy(() => ops.mul(guided, ops.broadcastTo(ops.interpolate(cam, [inputs.shape[2], inputs.shape[3]], opts.interpolateMode ?? 'nearest'), inputs.shape)));
    } finally {
      cam.release();
      guided.release();
    }
  }
}

/** The layer path methods take Integrated Gradients' options, and the layer options. */
type PathOptions = IntegratedGradientsOptions & LayerOptions;

/**
 * Captum's LayerConductance: for the points alpha_0..alpha_n of the integration rule (n + 1 of them),
 * sum over s < n of dF/dA(alpha_s) * (A(alpha_{s+1}) - A(alpha_s)), where A is the layer's value on
 * the interpolated input. Steps run in batches; the last step of each batch carries over to the next.
 */
export class LayerConductance {
  readonly layer: Module;
  constructor(private model: Module, layer: LayerRef) {
    this.layer = resolveLayer(model, layer, 'LayerConductance');
  }
  attribute(inputs: Tensor, opts: PathOptions & { returnConvergenceDelta: true }): Promise<[Tensor, Tensor]>;
  attribute(inputs: Tensor, opts?: PathOptions): Promise<Tensor>;
  async attribute(inputs: Tensor, opts: PathOptions = {}): Promise<Tensor | [Tensor, Tensor]> {
    checkImageBatch(inputs, 'LayerConductance');
    const { nSteps = 50, method = 'gausslegendre' } = opts;
    const { alphas } = approximationParameters(method, nSteps + 1);
    const forward = (x: Tensor) => this.model.call(x);
    const targets = await resolveTargets(forward, inputs, opts.target, 'LayerConductance');
    const ctx = inputs.ctx, N = inputs.shape[0];
    const baseline = keep(baselineTensor(inputs, opts.baselines, 'LayerConductance'));
    const rows = await rowsPerPass(forward, this.model, inputs, opts.internalBatchSize, true, 'LayerConductance: internalBatchSize');
    const stepsPerBatch = Math.max(1, Math.floor(rows / N));
    let total: Tensor | null = null, prevActs: Tensor | null = null, prevGrads: Tensor | null = null;
    try {
      for (let s0 = 0; s0 < alphas.length; s0 += stepsPerBatch) {
        const S = Math.min(stepsPerBatch, alphas.length - s0);
        const [acts, grads] = tidy(() => {
          const scaled = ops.concat(alphas.slice(s0, s0 + S).map((a) => ops.combine(inputs, baseline, a, 1 - a)));
          const r = layerGradientsAndEvals(this.model, this.layer, scaled, repeatTargets(targets, S), !!opts.attributeToLayerInput);
          return [keep(noGrad(() => ops.affine(r.acts, 1, 0))), keep(r.grads)];
        });
        const next = tidy(() => {
          const A = prevActs ? ops.concat([prevActs, acts]) : acts, G = prevGrads ? ops.concat([prevGrads, grads]) : grads;
          const steps = A.shape[0] / N - 1;
          if (steps < 1) return null;
          const diff = ops.sub(ops.sliceBatch(A, N, A.shape[0]), ops.sliceBatch(A, 0, A.shape[0] - N));
          const contrib = ops.mul(ops.sliceBatch(G, 0, G.shape[0] - N), diff);
          const summed = ops.sumAxisRaw(contrib, 1, steps, contrib.size / steps, 1, [N, ...acts.shape.slice(1)]);
          return keep(total ? ops.add(total, summed) : summed);
        });
        if (next) { total?.release(); total = next; }
        prevActs?.release(); prevGrads?.release();
        prevActs = tidy(() => keep(ops.sliceBatch(acts, acts.shape[0] - N, acts.shape[0])));
        prevGrads = tidy(() => keep(ops.sliceBatch(grads, grads.shape[0] - N, grads.shape[0])));
        acts.release(); grads.release();
        await ctx.sync();
        opts.onProgress?.(s0 + S, alphas.length);
      }
      const attributions = unkeep(total!);
      if (!opts.returnConvergenceDelta) return attributions;
      return [attributions, convergenceDelta(forward, attributions, inputs, baseline, targets)];
    } finally {
      baseline.release();
      prevActs?.release();
      prevGrads?.release();
    }
  }
}

/**
 * Captum's LayerIntegratedGradients: Integrated Gradients in the layer's space. The layer's value is
 * replaced, step by step, by A(b) + alpha (A(x) - A(b)), and the network above it is differentiated
 * with respect to that value; the integral is multiplied by A(x) - A(b).
 */
export class LayerIntegratedGradients {
  readonly layer: Module;
  constructor(private model: Module, layer: LayerRef, readonly multiplyByInputs = true) {
    this.layer = resolveLayer(model, layer, 'LayerIntegratedGradients');
  }
  attribute(inputs: Tensor, opts: PathOptions & { returnConvergenceDelta: true }): Promise<[Tensor, Tensor]>;
  attribute(inputs: Tensor, opts?: PathOptions): Promise<Tensor>;
  async attribute(inputs: Tensor, opts: PathOptions = {}): Promise<Tensor | [Tensor, Tensor]> {
    checkImageBatch(inputs, 'LayerIntegratedGradients');
    const { nSteps = 50, method = 'gausslegendre' } = opts;
    const { alphas, stepSizes } = approximationParameters(method, nSteps);
    const forward = (x: Tensor) => this.model.call(x);
    const targets = await resolveTargets(forward, inputs, opts.target, 'LayerIntegratedGradients');
    const ctx = inputs.ctx, N = inputs.shape[0];
    const toInput = !!opts.attributeToLayerInput;
    const baseline = keep(baselineTensor(inputs, opts.baselines, 'LayerIntegratedGradients'));
    const layerValue = (x: Tensor) => keep(tidy(() => noGrad(() => withLayer(this.layer, toInput, null, (c) => { forward(x); return ops.affine(c(), 1, 0); }))));
    const ax = layerValue(inputs), ab = layerValue(baseline);
    const rows = await rowsPerPass(forward, this.model, inputs, opts.internalBatchSize, true, 'LayerIntegratedGradients: internalBatchSize');
    const stepsPerBatch = Math.max(1, Math.floor(rows / N));
    let total = keep(ops.fill(ctx, ax.shape, 0));
    try {
      for (let s0 = 0; s0 < alphas.length; s0 += stepsPerBatch) {
        const S = Math.min(stepsPerBatch, alphas.length - s0);
        const next = tidy(() => {
          const scaled = ops.concat(alphas.slice(s0, s0 + S).map((a) => ops.combine(ax, ab, a, 1 - a)));
          scaled.requiresGrad = true;
          const [g] = withLayer(this.layer, false, toInput ? null : () => scaled, (captured) => {
            // To attribute to the layer's input, the layer itself is fed the interpolated value.
            const out = toInput ? this.callLayerAbove(inputs, S, scaled) : forward(ops.repeatBatch(inputs, S));
            if (!toInput) captured();
            return grad(ops.selectTargets(out, repeatTargets(targets, S)), [scaled]);
          });
          const weighted = ops.concat(stepSizes.slice(s0, s0 + S).map((w, i) => ops.scale(ops.sliceBatch(g, i * N, (i + 1) * N), w)));
          return keep(ops.add(total, ops.sumAxisRaw(weighted, 1, S, ax.size, 1, ax.shape)));
        });
        total.release();
        total = next;
        await ctx.sync();
        opts.onProgress?.(s0 + S, alphas.length);
      }
      const attributions = this.multiplyByInputs ? tidy(() => ops.mul(total, ops.sub(ax, ab))) : unkeep(total);
      if (attributions !== total) total.release();
      if (!opts.returnConvergenceDelta) return attributions;
      return [attributions, convergenceDelta(forward, attributions, inputs, baseline, targets)];
    } finally {
      baseline.release();
      ax.release();
      ab.release();
    }
  }

  /** Forward pass in which the layer receives `value` as its input instead of what precedes it computes. */
  private callLayerAbove(inputs: Tensor, S: number, value: Tensor): Tensor {
    const layer = this.layer;
    const original = layer.forward.bind(layer);
    layer.forward = () => original(value);
    try {
      return this.model.call(ops.repeatBatch(inputs, S));
    } finally {
      layer.forward = original;
    }
  }
}
