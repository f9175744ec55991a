/**
 * The explorer's in-browser mode: the same engine bundled into the page (kernels included), on the
 * visitor's WebGPU. The weights (or the .onnx file) come from the server once; the attributions and what
 * their cards show are computed here, as the server computes them.
 */
import { fromArray, tidy } from '../../autograd/index.ts';
import type { GpuContext } from '../../gpu/device.ts';
import { createWebGpu } from '../../gpu/web.ts';
import { parseSafetensors } from '../../io/safetensors.ts';
import { ResNet, type ResNetArch, type ResNetVariant } from '../../nn/resnet.ts';
import { type GraphModel, loadOnnx } from '../../nn/graph.ts';
import { ablationGroups } from '../examples.ts';
import { type Feature, GeneralFeature, ImageFeature, TextFeature } from '../features.ts';
import { type ArgumentValues, findMethod, methodSetOf, runMethod, validateArguments } from '../methods.ts';
import { attributionViews } from '../present.ts';
import type { Attribution, Init } from './api-types.ts';
import { toDataUrl } from './widgets.ts';

/** What the computation needs of the page: its init answer, the layer names, where progress goes. */
export interface BrowserPage {
  init: Init;
  layers: string[];
  onProgress: (label: string, done: number, total: number) => void;
  /** Reads a JSON route of the server. */
  api: <T>(path: string) => Promise<T>;
}

// One GPU context, each model loaded on first use.
let gpu: Promise<GpuContext> | null = null;
const engines = new Map<number, Promise<ResNet | GraphModel>>();
function browserContext(): Promise<GpuContext> {
  // The page's bundle embeds the kernels (src/io/bundle.ts), so the context needs nothing from the server.
  return (gpu ??= createWebGpu().catch((e) => {
    gpu = null;
    throw new Error(`${(e as Error).message}; or compute on the server`);
  }));
}

async function browserEngine(model: number, page: BrowserPage): Promise<{ ctx: GpuContext; net: ResNet | GraphModel }> {
  const ctx = await browserContext();
  let net = engines.get(model);
  if (!net) {
    const info = page.init.models[model];
    if (!info?.browserCompute) throw new Error(`model ${model} runs on the server only`);
    net = (async () => {
      const res = await fetch(`/api/models/${model}/weights`);
      if (!res.ok) throw new Error(`the model's weights could not be fetched: ${(await res.json()).error}`);
      if (info.kind === 'onnx') return loadOnnx(ctx, new Uint8Array(await res.arrayBuffer()), { what: info.name });
      const { tensors, metadata } = parseSafetensors(new Uint8Array(await res.arrayBuffer()), 'the model weights');
      const r = new ResNet(metadata.arch as ResNetArch, metadata.variant as ResNetVariant, Number(metadata.numClasses));
      r.loadStateDict(ctx, tensors);
      return r;
    })();
    net.catch(() => engines.delete(model));
    engines.set(model, net);
  }
  return { ctx, net: await net };
}

export interface AttributeRequest { example: number; target: number; method: string; arguments: ArgumentValues; model?: number }

/** The page's features, as the server's: what the views are computed with (a text's words stay those the server sent). */
function pageFeatures(init: Init): Feature[] {
  return init.features.map((f) => (f.type === 'image' ? new ImageFeature(f.name) : f.type === 'text' ? new TextFeature(f.name) : new GeneralFeature(f.name, f.categories!)));
}

/** What the card shows of an attribution, computed as the server computes it. */
function present(init: Init, data: Float32Array, shape: number[], shown: { data: Float32Array; shape: number[] }[]): Pick<Attribution, 'features' | 'contributions'> {
  const { views, contributions } = attributionViews(pageFeatures(init), { data, shape }, shown.map((p, k) => ({ shown: p, inputShape: init.inputShapes[k] })));
  return { contributions, features: views.map(({ heatMap, blended, ...v }) => ({ ...v, ...(heatMap && blended ? { heatMap: toDataUrl(heatMap), blended: toDataUrl(blended) } : {}) })) };
}

/** One attribution on this browser's GPU, with what its card shows; `data` is the raw result. */
export async function attributeInBrowser(req: AttributeRequest, page: BrowserPage): Promise<{ target: { index: number; name: string }; attribution: Attribution; data: Float32Array }> {
  const { init } = page, kind = methodSetOf(init.features.map((f) => f.type));
  const spec = findMethod(req.method, kind);
  const values = validateArguments(spec, req.arguments, page.layers, kind);
  const { ctx, net } = await browserEngine(req.model ?? 0, page);
  const res = await fetch(`/api/examples/${req.example}/tensors`);
  if (!res.ok) throw new Error((await res.json()).error);
  const { tensors } = parseSafetensors(new Uint8Array(await res.arrayBuffer()), 'the example');
  const input = tensors.get('input')!, baseline = tensors.get('baseline')!;
  const shown = init.features.map((_, k) => { const t = tensors.get(`shown.${k}`)!; return { data: t.data as Float32Array, shape: t.shape.slice(1) }; });
  const t0 = performance.now();
  const { data, shape, delta } = await tidy(async () => {
    const x = fromArray(ctx, input.data as Float32Array, input.shape);
    const b = fromArray(ctx, baseline.data as Float32Array, baseline.shape);
    return runMethod(spec, x, req.target, values, {
      net, layers: page.layers, baseline: b, featureMask: ablationGroups(pageFeatures(init), init.inputShapes),
      onProgress: (done, total) => page.onProgress(`computing in this browser: ${spec.label}`, done, total),
    });
  });
  const seconds = (performance.now() - t0) / 1000;
  return {
    target: { index: req.target, name: init.classes[req.target] },
    attribution: { method: spec.name, arguments: values, seconds, computedOn: 'browser', delta, ...present(init, data, shape, shown) },
    data,
  };
}
