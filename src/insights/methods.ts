/**
 * The attribution methods Glimpse Insights offers, as data: Captum's class names, typed arguments with
 * Captum Insights' defaults and limits, one validator, and how each runs on one example of each kind
 * of feature (image, text, table row). The server
 * and the in-browser mode share this file, so both accept the same requests and compute the same thing.
 */
import { type Tensor, noGrad, tidy } from '../autograd/index.ts';
import * as A from '../attr/index.ts';
import * as ops from '../autograd/ops/index.ts';
import type { Module } from '../nn/module.ts';
import type { FeatureKind } from './features.ts';

/** A request the caller got wrong: the server answers it with 400 and this message. */
export class RequestError extends Error {
  readonly status = 400;
}

export type ArgumentSpec =
  | { name: string; type: 'integer' | 'number'; default: number | null; min: number; max: number; help: string }
  | { name: string; type: 'enum'; default: string; options: string[]; help: string }
  | { name: string; type: 'boolean'; default: boolean; help: string }
  | { name: string; type: 'integers'; default: number[]; length: number; min: number; max: number; help: string };

export type ArgumentValues = Record<string, number | string | boolean | number[] | null>;

export interface RunContext {
  net: Module;
  /** The names of the model's modules, for layer methods. */
  layers: string[];
  /** The first baseline of the feature (Captum Insights uses baselines[0]); zeros when none. */
  baseline: Tensor | undefined;
  /** With several features: Feature Ablation's groups over the packed input (a token, a column, a 16x16 patch each). */
  featureMask?: Int32Array;
  onProgress: (done: number, total: number) => void;
}

export interface MethodSpec {
  /** Captum's class name. */
  name: string;
  label: string;
  arguments: ArgumentSpec[];
  /**
   * Attributions for one example [1, ...]: at the input's shape, or a per-token layer's [1, L, D]; the
   * path methods also give Captum's convergence delta [1].
   */
  run(x: Tensor, target: number, args: ArgumentValues, rc: RunContext): Promise<Tensor | [Tensor, Tensor]>;
}

const LAYER_PLACEHOLDER = 'layer4';

/** One feature per size x size patch of an image [C, H, W], over all channels. */
export const patchMask = (H: number, W: number, C: number, size: number): Int32Array => {
  // A mask a picker can express (Captum Insights' default, one feature per element, would cost C*H*W
  // forward passes on a 224x224 photo).
  const cols = Math.ceil(W / size), mask = new Int32Array(C * H * W);
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) mask[(c * H + y) * W + x] = Math.floor(y / size) * cols + Math.floor(x / size);
  return mask;
};

/** Grad-CAM maps [1, 1, h, w] are upsampled to the image for the overlay, as Captum's tutorials do. */
const toInputSize = (attr: Tensor, x: Tensor, mode: string): Tensor =>
  A.LayerAttribution.interpolate(attr, [x.shape[2], x.shape[3]], mode as 'nearest' | 'bilinear');

const IMAGE_METHODS: MethodSpec[] = [
  {
    name: 'IntegratedGradients', label: 'Integrated Gradients',
    arguments: [
      { name: 'nSteps', type: 'integer', default: 25, min: 2, max: 1000, help: 'number of points on the path from the baseline' },
      { name: 'method', type: 'enum', default: 'gausslegendre', options: [...A.INTEGRATION_METHODS], help: 'integral approximation' },
    ],
    run: (x, target, a, rc) => new A.IntegratedGradients(rc.net).attribute(x, {
      target, baselines: rc.baseline, nSteps: a.nSteps as number, method: a.method as A.IntegrationMethod, onProgress: rc.onProgress, returnConvergenceDelta: true,
    }),
  },
  {
    name: 'Saliency', label: 'Saliency',
    arguments: [{ name: 'abs', type: 'boolean', default: true, help: 'absolute value of the gradient' }],
    run: (x, target, a, rc) => new A.Saliency(rc.net).attribute(x, { target, abs: a.abs as boolean }),
  },
  { name: 'InputXGradient', label: 'Input x Gradient', arguments: [], run: (x, target, _a, rc) => new A.InputXGradient(rc.net).attribute(x, { target }) },
  { name: 'GuidedBackprop', label: 'Guided Backprop', arguments: [], run: (x, target, _a, rc) => new A.GuidedBackprop(rc.net).attribute(x, { target }) },
  { name: 'Deconvolution', label: 'Deconvolution', arguments: [], run: (x, target, _a, rc) => new A.Deconvolution(rc.net).attribute(x, { target }) },
  {
    name: 'Occlusion', label: 'Occlusion',
    arguments: [
      { name: 'slidingWindowShapes', type: 'integers', default: [3, 15, 15], length: 3, min: 1, max: 4096, help: 'window (C, H, W) set to the baseline' },
      { name: 'strides', type: 'integers', default: [3, 8, 8], length: 3, min: 1, max: 4096, help: 'step of the window (C, H, W)' },
      { name: 'perturbationsPerEval', type: 'integer', default: null, min: 1, max: 4096, help: 'windows per forward pass (empty: as many as fit)' },
    ],
    run: (x, target, a, rc) => {
      const win = a.slidingWindowShapes as number[], dims = x.shape.slice(1);
      if (win.some((w, i) => w > dims[i])) throw new RequestError(`Occlusion.slidingWindowShapes [${win.join(', ')}] is larger than the input [${dims.join(', ')}]`);
      return new A.Occlusion(rc.net).attribute(x, {
      target, baselines: rc.baseline, slidingWindowShapes: a.slidingWindowShapes as number[], strides: a.strides as number[],
      perturbationsPerEval: (a.perturbationsPerEval as number | null) ?? undefined, onProgress: rc.onProgress,
      });
    },
  },
  {
    name: 'FeatureAblation', label: 'Feature Ablation',
    arguments: [
      { name: 'patchSize', type: 'integer', default: 16, min: 1, max: 4096, help: 'features are square patches of this many pixels, all channels together' },
      { name: 'perturbationsPerEval', type: 'integer', default: null, min: 1, max: 4096, help: 'features ablated per forward pass (empty: as many as fit)' },
    ],
    run: (x, target, a, rc) => new A.FeatureAblation(rc.net).attribute(x, {
      target, baselines: rc.baseline, featureMask: patchMask(x.shape[2], x.shape[3], x.shape[1], a.patchSize as number),
      perturbationsPerEval: (a.perturbationsPerEval as number | null) ?? undefined, onProgress: rc.onProgress,
    }),
  },
  {
    name: 'LayerGradCam', label: 'Grad-CAM',
    arguments: [
      { name: 'layer', type: 'enum', default: LAYER_PLACEHOLDER, options: [], help: 'the layer whose activations and gradients make the map' },
      { name: 'reluAttributions', type: 'boolean', default: false, help: 'keep only the positive part of the map' },
      { name: 'interpolateMode', type: 'enum', default: 'nearest', options: ['nearest', 'bilinear'], help: 'upsampling of the map to the image' },
    ],
    run: (x, target, a, rc) => tidy(async () => {
      const cam = await new A.LayerGradCam(rc.net, a.layer as string).attribute(x, { target, reluAttributions: a.reluAttributions as boolean });
      return toInputSize(cam, x, a.interpolateMode as string);
    }),
  },
];

const integratedGradients = IMAGE_METHODS[0], saliency = IMAGE_METHODS[1], inputXGradient = IMAGE_METHODS[2];

/**
 * Saliency over tokens: token ids have no gradient, so the gradient is taken at a per-token layer (the
 * embedding's output), as Captum's LayerGradientXActivation without the activation, in absolute value.
 */
export function tokenSaliency(net: Module, layer: string, x: Tensor, target: number | number[] | undefined, abs: boolean): Promise<Tensor> {
  return tidy(async () => {
    const g = await new A.LayerGradientXActivation(net, layer, false).attribute(x, { target });
    return abs ? ops.abs(g) : g;
  });
}

const layerArgument = (help: string): ArgumentSpec => ({ name: 'layer', type: 'enum', default: '', options: [], help });
const stepsArguments = integratedGradients.arguments;
const perEval: ArgumentSpec = { name: 'perturbationsPerEval', type: 'integer', default: null, min: 1, max: 4096, help: 'perturbed inputs per forward pass (empty: as many as fit)' };

/**
 * Token ids have no gradient: gradient methods attribute to a layer whose output is per token (the
 * embedding, typically); perturbation methods replace tokens by the baseline's (the pad token).
 */
const TEXT_METHODS: MethodSpec[] = [
  {
    name: 'LayerIntegratedGradients', label: 'Layer Integrated Gradients',
    arguments: [layerArgument('the per-token layer attributed to (the embedding)'), ...stepsArguments],
    run: (x, target, a, rc) => new A.LayerIntegratedGradients(rc.net, a.layer as string).attribute(x, {
      target, baselines: rc.baseline, nSteps: a.nSteps as number, method: a.method as A.IntegrationMethod, onProgress: rc.onProgress, returnConvergenceDelta: true,
    }),
  },
  {
    name: 'LayerGradientXActivation', label: 'Layer Gradient x Activation',
    arguments: [layerArgument('the per-token layer attributed to (the embedding)'), { name: 'multiplyByInputs', type: 'boolean', default: true, help: 'multiply the gradient by the activation (off: the gradient alone, saliency at the layer)' }],
    run: (x, target, a, rc) => new A.LayerGradientXActivation(rc.net, a.layer as string, a.multiplyByInputs as boolean).attribute(x, { target }),
  },
  {
    name: 'Saliency', label: 'Saliency (at the embedding)',
    arguments: [layerArgument('the per-token layer whose gradient is taken (the embedding)'), { name: 'abs', type: 'boolean', default: true, help: 'absolute value of the gradient' }],
    run: (x, target, a, rc) => tokenSaliency(rc.net, a.layer as string, x, target, a.abs as boolean),
  },
  {
    name: 'Occlusion', label: 'Occlusion',
    arguments: [
      { name: 'slidingWindowShapes', type: 'integers', default: [1], length: 1, min: 1, max: 4096, help: 'window of tokens set to the baseline (the pad token)' },
      { name: 'strides', type: 'integers', default: [1], length: 1, min: 1, max: 4096, help: 'step of the window in tokens' },
      perEval,
    ],
    run: (x, target, a, rc) => {
      const win = a.slidingWindowShapes as number[];
      if (win[0] > x.shape[1]) throw new RequestError(`Occlusion.slidingWindowShapes [${win[0]}] is longer than the text's ${x.shape[1]} tokens`);
      return new A.Occlusion(rc.net).attribute(x, {
        target, baselines: rc.baseline, slidingWindowShapes: win, strides: a.strides as number[],
        perturbationsPerEval: (a.perturbationsPerEval as number | null) ?? undefined, onProgress: rc.onProgress,
      });
    },
  },
  {
    name: 'FeatureAblation', label: 'Feature Ablation', arguments: [perEval],
    run: (x, target, a, rc) => new A.FeatureAblation(rc.net).attribute(x, {
      target, baselines: rc.baseline, perturbationsPerEval: (a.perturbationsPerEval as number | null) ?? undefined, onProgress: rc.onProgress,
    }),
  },
];

const featureAblation = TEXT_METHODS.find((m) => m.name === 'FeatureAblation')!;

/** A table row [1, C]: every method on the input itself; FeatureAblation takes one column at a time. */
const GENERAL_METHODS: MethodSpec[] = [integratedGradients, saliency, inputXGradient, featureAblation];

/** Several inputs, packed side by side: Feature Ablation's groups follow each feature (rc.featureMask). */
const severalAblation: MethodSpec = {
  ...featureAblation,
  run: (x, target, a, rc) => new A.FeatureAblation(rc.net).attribute(x, {
    target, baselines: rc.baseline, featureMask: rc.featureMask, perturbationsPerEval: (a.perturbationsPerEval as number | null) ?? undefined, onProgress: rc.onProgress,
  }),
};

/**
 * The methods a model's features call for: one feature's kind, or several features (the input
 * gradient methods and Feature Ablation over the packed inputs; with token ids among them, whose
 * gradient means nothing, Feature Ablation alone).
 */
/**
 * The model's modules whose output `fits` (leaves and blocks alike), in module order: found by one
 * forward pass of `x` with a hook on every module. Images: rank 4, what Grad-CAM takes.
 */
export function layersWhoseOutput(net: Module, x: Tensor, fits: (y: Tensor) => boolean): string[] {
  const hit = new Set<string>();
  const unhook = [...net.namedModules()].filter(([n]) => n !== '').map(([n, m]) => m.registerForwardHook((_m, _x, y) => { if (fits(y)) hit.add(n); }));
  try {
    tidy(() => { noGrad(() => net.call(x)); });
  } finally {
    unhook.forEach((u) => u());
  }
  return [...net.namedModules()].map(([n]) => n).filter((n) => hit.has(n));
}

export type MethodSet = FeatureKind | 'several' | 'several with text';

export function methodSetOf(kinds: FeatureKind[]): MethodSet {
  return kinds.length === 1 ? kinds[0] : kinds.includes('text') ? 'several with text' : 'several';
}

const CATALOGUE: Record<MethodSet, MethodSpec[]> = {
  image: IMAGE_METHODS, text: TEXT_METHODS, general: GENERAL_METHODS,
  several: [integratedGradients, saliency, inputXGradient, severalAblation], 'several with text': [severalAblation],
};

/** The methods that fit a kind of feature, or several. */
export const methodsFor = (kind: MethodSet): MethodSpec[] => CATALOGUE[kind];

/** Runs a method on one example and reads its result back: the attributions, and the convergence delta of a path method. */
export async function runMethod(spec: MethodSpec, x: Tensor, target: number, args: ArgumentValues, rc: RunContext): Promise<{ data: Float32Array; shape: number[]; delta: number | null }> {
  return tidy(async () => {
    const out = await spec.run(x, target, args, rc);
    const [attr, delta] = Array.isArray(out) ? out : [out, null];
    return { data: await attr.data(), shape: [...attr.shape], delta: delta ? (await delta.data())[0] : null };
  });
}

/** The catalogue as /api/init sends it: the layer picker lists the model's own layers. */
export function describeMethods(layers: string[], kind: MethodSet = 'image'): { name: string; label: string; arguments: ArgumentSpec[] }[] {
  return methodsFor(kind).map((m) => ({ name: m.name, label: m.label, arguments: withLayers(m, layers, kind) }));
}

/** A text's layers start at the embedding, which its methods default to; an image's Grad-CAM defaults to layer4 or the last. */
function withLayers(m: MethodSpec, layers: string[], kind: MethodSet): ArgumentSpec[] {
  return m.arguments.map((s) => (s.type === 'enum' && s.name === 'layer'
    ? { ...s, options: layers, default: layers.includes(s.default) ? s.default : kind === 'text' ? layers[0] : layers[layers.length - 1] }
    : s));
}

export function findMethod(name: unknown, kind: MethodSet = 'image'): MethodSpec {
  const list = methodsFor(kind);
  if (name === undefined) throw new RequestError(`the request has no "method"; give one of ${list.map((x) => x.name).join(', ')}`);
  const m = list.find((x) => x.name === name);
  if (!m) {
    const other = (Object.keys(CATALOGUE) as MethodSet[]).find((k) => k !== kind && CATALOGUE[k].some((x) => x.name === name));
    const input = kind.startsWith('several') ? `inputs of ${kind === 'several' ? 'several features' : 'several features with token ids'}` : `a${kind === 'image' ? 'n' : ''} ${kind} input`;
    throw new RequestError(`${other ? `${name} does not fit ${input}` : `unknown method ${JSON.stringify(name)}`}; methods: ${list.map((x) => x.name).join(', ')}`);
  }
  return m;
}

/** Checks every argument's type and range, fills in the defaults, and refuses names the method does not take. */
export function validateArguments(method: MethodSpec, raw: unknown, layers: string[], kind: MethodSet = 'image'): ArgumentValues {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new RequestError(`arguments must be an object of ${method.name}'s options`);
  const given = raw as Record<string, unknown>;
  const specs = withLayers(method, layers, kind);
  for (const k of Object.keys(given)) {
    if (!specs.some((s) => s.name === k)) {
      throw new RequestError(`${method.name} has no argument '${k}'${specs.length ? `; it takes ${specs.map((s) => s.name).join(', ')}` : '; it takes none'}`);
    }
  }
  const out: ArgumentValues = {};
  for (const s of specs) {
    const v = given[s.name];
    const where = `${method.name}.${s.name}`;
    if (v === undefined || (v === null && s.type !== 'boolean')) {
      out[s.name] = s.default;
      continue;
    }
    if (s.type === 'integer' || s.type === 'number') {
      if (typeof v !== 'number' || !Number.isFinite(v) || (s.type === 'integer' && !Number.isInteger(v))) throw new RequestError(`${where} must be ${s.type === 'integer' ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`);
      if (v < s.min || v > s.max) throw new RequestError(`${where} must be between ${s.min} and ${s.max}, got ${v}`);
    } else if (s.type === 'enum') {
      if (typeof v !== 'string' || !s.options.includes(v)) {
        const list = s.options.length > 12 ? `${s.options.slice(0, 12).join(', ')}, ... (${s.options.length} in all)` : s.options.join(', ');
        throw new RequestError(`${where} must be one of ${list}; got ${JSON.stringify(v)}`);
      }
    } else if (s.type === 'boolean') {
      if (typeof v !== 'boolean') throw new RequestError(`${where} must be true or false, got ${JSON.stringify(v)}`);
    } else if (s.type === 'integers') {
      if (!Array.isArray(v) || v.length !== s.length || v.some((e) => typeof e !== 'number' || !Number.isInteger(e) || e < s.min || e > s.max)) {
        throw new RequestError(`${where} must be ${s.length} integers between ${s.min} and ${s.max}, got ${JSON.stringify(v)}`);
      }
    }
    out[s.name] = v as ArgumentValues[string];
  }
  return out;
}
