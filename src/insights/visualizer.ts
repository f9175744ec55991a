/**
 * Captum Insights' AttributionVisualizer on Glimpse: a dataset of batches (images, token ids or table
 * rows, by the feature), one or more models, and the requests the explorer page makes (init, fetch a
 * page of examples with their attributions, re-attribute one example, or a new text or row, to a
 * target). Requests are validated here, whatever transport carries them; GPU work goes through one
 * queue. `serve()` starts the HTTP server (server.ts).
 */
import { type Tensor, fromArray, noGrad, softmax, tidy } from '../autograd/index.ts';
import type { GpuContext } from '../gpu/device.ts';
import type { RgbImage } from '../io/image.ts';
import { type HostArray, renderImageAttr } from '../io/visualize.ts';
import type { Module } from '../nn/module.ts';
import { ResNet } from '../nn/resnet.ts';
import { GraphModel } from '../nn/graph.ts';
import { type Feature, ImageFeature, TextFeature, GeneralFeature } from './features.ts';
import { type Example, type Part, ablationGroups, batchRank, exampleOf, makePart, requestExample } from './examples.ts';
import { type ArgumentValues, type MethodSet, type MethodSpec, RequestError, describeMethods, layersWhoseOutput, findMethod, methodSetOf, runMethod, validateArguments } from './methods.ts';
import { type Prediction, attributionViews, encodeFloats, topPredictions } from './present.ts';
import { WorkQueue } from './queue.ts';

export { ImageFeature, TextFeature, GeneralFeature, normalizeTransform, zeroBaseline, tokenReferenceBaseline } from './features.ts';

/**
 * A batch of the dataset: images [N, 3, H, W] in display space, token ids [N, L] or table rows [N, C]
 * (with several features, one such array per feature, in order); their class indices if known.
 */
export interface Batch {
  inputs: HostArray | HostArray[];
  labels?: ArrayLike<number | null> | null;
}

export interface AttributionVisualizerOptions {
  /** The GPU context the models' weights live on. */
  ctx: GpuContext;
  models: Module[];
  /** Names shown for the models (default: their architecture, or "model 0", ...). */
  modelNames?: string[];
  classes: string[];
  /** One feature per model input, in order (Captum's rule); a graph of several inputs takes them packed. */
  features: Feature[];
  dataset: Iterable<Batch> | AsyncIterable<Batch>;
  /** Applied to the model's output before the top predictions are read (default: softmax). */
  scoreFunc?: (logits: Tensor) => Tensor;
  /** Attribute to the true label when there is one (Captum's default), else to the top prediction. */
  useLabelForAttr?: boolean;
  /** Predictions shown per example. */
  topK?: number;
  /** The dataset is read up to this many examples. */
  maxExamples?: number;
  /** How pictures become URLs (server: PNG data URLs). */
  encodeImage: (img: RgbImage) => string;
}

export interface Filter {
  /** Class names: an example is kept when its label or its top prediction is one of them. */
  classes?: string[];
  prediction?: 'all' | 'correct' | 'incorrect';
}

/** One feature of an example as a card shows it: an image (a URL), a text's tokens, or a row's values. */
export interface ShownPart {
  name: string;
  type: Feature['kind'];
  original?: string;
  tokens?: string[];
  values?: { name: string; value: number }[];
}

const MAX_PAGE = 32;

export class AttributionVisualizer {
  // After each job the pool's idle buffers go back: a 224x224 IG batch's would otherwise stay allocated.
  readonly queue = new WorkQueue(() => this.o.ctx.pool.trim());
  private examples: Example[] | null = null;
  private loading: Promise<Example[]> | null = null;
  private predictions = new Map<number, Promise<Prediction[][]>>();
  private o: Required<Omit<AttributionVisualizerOptions, 'modelNames'>> & { modelNames: string[] };

  constructor(opts: AttributionVisualizerOptions) {
    if (!opts.models?.length) throw new Error('AttributionVisualizer needs at least one model');
    if (!opts.classes?.length) throw new Error('AttributionVisualizer needs the class names');
    const features = opts.features ?? [];
    if (!features.length || features.some((f) => !(f instanceof ImageFeature || f instanceof TextFeature || f instanceof GeneralFeature))) {
      throw new Error('AttributionVisualizer takes its features as ImageFeature, TextFeature or GeneralFeature objects, one per model input');
    }
    opts.models.forEach((m, i) => {
      const inputs = m instanceof GraphModel ? m.onnx.inputs.map((x) => x.name) : ['input'];
      if (inputs.length !== features.length) throw new Error(`model ${i} takes ${inputs.length} input${inputs.length > 1 ? 's' : ''} (${inputs.join(', ')}) but ${features.length} feature${features.length > 1 ? 's are' : ' is'} given: one feature per input, in order`);
    });
    const modelNames = opts.modelNames ?? opts.models.map((m, i) => (m instanceof ResNet ? m.arch : m instanceof GraphModel ? m.source.split('/').pop()! : `model ${i}`));
    if (modelNames.length !== opts.models.length) throw new Error(`modelNames has ${modelNames.length} names for ${opts.models.length} models`);
    const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as AttributionVisualizerOptions;
    this.o = { scoreFunc: softmax, useLabelForAttr: true, topK: 5, maxExamples: 1000, ...given, modelNames };
    if (!(Number.isInteger(this.o.maxExamples) && this.o.maxExamples >= 1)) throw new Error(`maxExamples must be a positive integer, got ${this.o.maxExamples}`);
  }

  /** GPU memory held by tensors (live) and kept for reuse (idle), in bytes: /api/progress reports it. */
  memory(): { liveBytes: number; idleBytes: number } {
    const { liveBytes, idleBytes } = this.o.ctx.pool;
    return { liveBytes, idleBytes };
  }

  get classes(): string[] {
    return this.o.classes;
  }

  get features(): Feature[] {
    return this.o.features;
  }

  /** The methods the features call for (methods.ts). */
  get methodSet(): MethodSet {
    return methodSetOf(this.o.features.map((f) => f.kind));
  }

  private layerLists = new Map<number, Promise<string[]>>();
  /**
   * The model's modules that its feature's layer methods can take (leaves and blocks alike), found
   * once by a forward pass of the first example with a hook on every module: for an image, those whose
   * output is [N, C, H, W] (Grad-CAM); for a text, those whose output is per token, [N, L, ...] (the
   * embedding and what follows it before the tokens mix); none for a table row.
   */
  layers(model = 0): Promise<string[]> {
    let list = this.layerLists.get(model);
    if (!list) this.layerLists.set(model, (list = this.spatialLayers(model)));
    return list;
  }

  private async spatialLayers(model: number): Promise<string[]> {
    const kind = this.methodSet;
    if (kind !== 'image' && kind !== 'text') return [];
    const e = (await this.loadExamples())[0], net = this.o.models[model];
    const L = e.input.shape[0];
    const fits = (y: Tensor) => (kind === 'image' ? y.rank === 4 : y.rank >= 3 && y.shape[1] === L);
    return this.queue.run('finding the layers', () => tidy(async () => layersWhoseOutput(net, fromArray(this.o.ctx, e.input.data, [1, ...e.input.shape]), fits)));
  }

  /** Reads the dataset once, applying each feature's transforms to its part of each example. */
  async loadExamples(): Promise<Example[]> {
    if (this.examples) return this.examples;
    this.loading ??= (async () => {
      const features = this.o.features, out: Example[] = [];
      const want = { image: '[N, C, H, W] images', text: '[N, L] token ids', general: '[N, C] rows' } as const;
      for await (const batch of this.o.dataset as AsyncIterable<Batch>) {
        const { labels } = batch;
        const arrays = Array.isArray(batch.inputs) ? batch.inputs : [batch.inputs];
        if (arrays.length !== features.length) throw new Error(`a dataset batch has ${arrays.length} input arrays for ${features.length} features: one per feature, in order`);
        arrays.forEach((inputs, k) => {
          const f = features[k];
          if (inputs?.shape?.length !== batchRank(f)) throw new Error(`a dataset batch's inputs must be ${want[f.kind]} for ${f.constructor.name} ${f.name}, got [${inputs?.shape?.join(', ')}]`);
          if (inputs.shape[0] !== arrays[0].shape[0]) throw new Error(`a dataset batch holds ${arrays.map((x) => x.shape[0]).join(', ')} examples for its features: each needs the same number`);
        });
        const N = arrays[0].shape[0];
        if (labels && labels.length !== N) throw new Error(`a dataset batch has ${N} inputs but ${labels.length} labels`);
        for (let n = 0; n < N && out.length < this.o.maxExamples; n++) {
          const where = `example ${out.length}`;
          const parts: Part[] = arrays.map((inputs, k) => {
            const [, ...dims] = inputs.shape, per = dims.reduce((p, d) => p * d, 1);
            const raw: HostArray = { data: Float32Array.from({ length: per }, (_, i) => inputs.data[n * per + i]), shape: dims };
            return makePart(features[k], raw, features.length > 1 ? `${where}, feature ${features[k].name}` : where);
          });
          const label = labels && labels[n] !== null ? Number(labels[n]) : null;
          if (label !== null && !(Number.isInteger(label) && label >= 0 && label < this.o.classes.length)) throw new Error(`${where} has label ${labels![n]}, not a class index 0..${this.o.classes.length - 1}`);
          out.push(exampleOf(parts, out.length, label));
        }
        if (out.length >= this.o.maxExamples) break;
      }
      if (!out.length) throw new Error('the dataset is empty');
      const first = out[0].input.shape.join(', ');
      const odd = out.find((e) => e.input.shape.join(', ') !== first);
      if (odd) throw new Error(`example ${odd.index}'s input is [${odd.input.shape.join(', ')}], example 0's [${first}]: the explorer batches examples of one shape`);
      return (this.examples = out);
    })();
    return this.loading;
  }

  /** GET /api/init. */
  async init() {
    const examples = await this.loadExamples();
    return {
      classes: this.o.classes,
      models: this.o.modelNames.map((name, i) => {
        const m = this.o.models[i];
        return { index: i, name, kind: m instanceof GraphModel ? 'onnx' : 'resnet', browserCompute: m instanceof ResNet || (m instanceof GraphModel && !!m.sourceBytes) };
      }),
      features: this.o.features.map((f) => ({ name: f.name, type: f.kind, ...(f.kind === 'general' ? { categories: f.categories } : {}) })),
      methods: describeMethods(await this.layers(), this.methodSet),
      examples: examples.length,
      inputShape: examples[0].input.shape,
      // Each feature's input shape: the page splits a packed attribution by them.
      inputShapes: examples[0].parts.map((p) => p.input.shape),
      // A new text (with the feature's vocabulary) or table row can be sent to /api/attribute as "input".
      acceptsInput: this.o.features.every((f) => f.kind === 'general' || (f.kind === 'text' && !!f.options.vocabulary)),
    };
  }

  private checkModel(m: unknown): number {
    if (m === undefined) return 0;
    if (!Number.isInteger(m) || (m as number) < 0 || (m as number) >= this.o.models.length) throw new RequestError(`model must be an index 0..${this.o.models.length - 1}, got ${JSON.stringify(m)}`);
    return m as number;
  }

  /** Top predictions of every example (computed once per model, in batches, without gradients). */
  private predictAll(model: number): Promise<Prediction[][]> {
    let p = this.predictions.get(model);
    if (!p) {
      p = this.loadExamples().then((examples) => this.queue.run('predicting', async (progress) => {
        const all: Prediction[][] = [];
        for (let first = 0; first < examples.length; first += 8) {
          all.push(...await this.predict(model, examples.slice(first, first + 8)));
          progress(Math.min(first + 8, examples.length), examples.length);
        }
        return all;
      }));
      p.catch(() => this.predictions.delete(model)); // a failure is not cached
      this.predictions.set(model, p);
    }
    return p;
  }

  /** Top predictions of examples of one shape, in one batch (call inside a queued job). */
  private async predict(model: number, group: Example[]): Promise<Prediction[][]> {
    const shape = group[0].input.shape, per = group[0].input.data.length;
    const data = new Float32Array(group.length * per);
    group.forEach((e, i) => data.set(e.input.data, i * per));
    const scores = await tidy(() => noGrad(() => this.o.scoreFunc(this.o.models[model].call(fromArray(this.o.ctx, data, [group.length, ...shape])))).data());
    const K = scores.length / group.length;
    return group.map((_, i) => topPredictions(scores.subarray(i * K, (i + 1) * K), this.o.classes, this.o.topK));
  }

  private parseFilter(f: unknown): (e: Example, p: Prediction[]) => boolean {
    if (f === undefined || f === null) return () => true;
    if (typeof f !== 'object' || Array.isArray(f)) throw new RequestError('filter must be an object {classes, prediction}');
    const { classes, prediction, ...rest } = f as Record<string, unknown>;
    if (Object.keys(rest).length) throw new RequestError(`filter has no field '${Object.keys(rest)[0]}'; it takes classes and prediction`);
    if (prediction !== undefined && !['all', 'correct', 'incorrect'].includes(prediction as string)) throw new RequestError(`filter.prediction must be all, correct or incorrect, got ${JSON.stringify(prediction)}`);
    let wanted: Set<number> | null = null;
    if (classes !== undefined) {
      if (!Array.isArray(classes) || classes.some((c) => typeof c !== 'string')) throw new RequestError('filter.classes must be a list of class names');
      wanted = new Set(classes.map((c) => {
        const i = this.o.classes.indexOf(c as string);
        if (i < 0) throw new RequestError(`filter.classes: unknown class ${JSON.stringify(c)}`);
        return i;
      }));
      if (!wanted.size) wanted = null;
    }
    return (e, p) => {
      if (wanted && !(e.label !== null && wanted.has(e.label)) && !wanted.has(p[0].index)) return false;
      if (prediction === 'correct') return e.label !== null && p[0].index === e.label;
      if (prediction === 'incorrect') return e.label !== null && p[0].index !== e.label;
      return true;
    };
  }

  private async exampleAt(i: unknown): Promise<Example> {
    const examples = await this.loadExamples();
    if (!Number.isInteger(i) || (i as number) < 0 || (i as number) >= examples.length) throw new RequestError(`example must be an index 0..${examples.length - 1}, got ${JSON.stringify(i)}`);
    return examples[i as number];
  }

  /**
   * POST /api/fetch: a page of examples that pass the filter, each attributed with the method (none
   * when method is null), for the model asked or, without one, for every model (one entry each).
   */
  async fetch(req: Record<string, unknown>, signal?: AbortSignal) {
    const { method, arguments: args, filter, model: m, offset = 0, count = 4, raw, ...rest } = req;
    if (Object.keys(rest).length) throw new RequestError(`unknown field '${Object.keys(rest)[0]}'; fetch takes method, arguments, filter, model, offset, count, raw`);
    // Without a model, every model: each example is shown for each model it passes the filter for, as Captum Insights does.
    const models = m === undefined || m === null ? this.o.models.map((_, i) => i) : [this.checkModel(m)];
    if (!Number.isInteger(offset) || (offset as number) < 0) throw new RequestError(`offset must be a non-negative integer, got ${JSON.stringify(offset)}`);
    if (!Number.isInteger(count) || (count as number) < 1 || (count as number) > MAX_PAGE) throw new RequestError(`count must be an integer 1..${MAX_PAGE}, got ${JSON.stringify(count)}`);
    const kind = this.methodSet;
    const spec = method === null ? null : findMethod(method, kind);
    const values: ArgumentValues[] = [];
    for (const i of models) {
      try {
        if (spec) values.push(validateArguments(spec, args, await this.layers(i), kind));
      } catch (e) {
        throw models.length > 1 && e instanceof RequestError ? new RequestError(`model ${i} (${this.o.modelNames[i]}): ${e.message}`) : e;
      }
    }
    const keep = this.parseFilter(filter);
    const examples = await this.loadExamples();
    const preds: Prediction[][][] = [];
    for (const i of models) preds.push(await this.predictAll(i));
    const passes = (e: Example) => models.map((_, k) => keep(e, preds[k][e.index]));
    const matched = examples.filter((e) => passes(e).some(Boolean));
    const page = matched.slice(offset as number, (offset as number) + (count as number));
    const out = [];
    for (const e of page) {
      const pass = passes(e);
      for (let k = 0; k < models.length; k++) {
        if (!pass[k]) continue;
        const p = preds[k][e.index];
        const target = this.o.useLabelForAttr && e.label !== null ? e.label : p[0].index;
        out.push(await this.describe(e, p, models[k], target, spec ? { spec, values: values[k] } : null, !!raw, signal));
      }
    }
    const next = (offset as number) + page.length;
    return { examples: out, total: matched.length, offset, next: next < matched.length ? next : null };
  }

  /**
   * POST /api/attribute: one example of the dataset, or a new input (a text, a table row), to one
   * target (for a new input, its top prediction when none is given).
   */
  async attribute(req: Record<string, unknown>, signal?: AbortSignal) {
    const { example, input, target, method, arguments: args, model: m, raw, ...rest } = req;
    if (Object.keys(rest).length) throw new RequestError(`unknown field '${Object.keys(rest)[0]}'; attribute takes example (or input), target, method, arguments, model, raw`);
    if ((example === undefined) === (input === undefined)) throw new RequestError('give one of example (an index into the dataset) or input (a new text or table row)');
    const model = this.checkModel(m);
    const kind = this.methodSet;
    if (target !== undefined || input === undefined) {
      if (!Number.isInteger(target) || (target as number) < 0 || (target as number) >= this.o.classes.length) throw new RequestError(`target must be a class index 0..${this.o.classes.length - 1}, got ${JSON.stringify(target)}`);
    }
    const spec = findMethod(method, kind);
    const values = validateArguments(spec, args, await this.layers(model), kind);
    if (input !== undefined) {
      const e = requestExample(this.o.features, input, (await this.loadExamples())[0].parts.map((p) => p.input.shape));
      const [preds] = await this.queue.run('predicting', () => this.predict(model, [e]), signal);
      return this.describe(e, preds, model, (target as number | undefined) ?? preds[0].index, { spec, values }, !!raw, signal);
    }
    const e = await this.exampleAt(example);
    const preds = await this.predictAll(model);
    return this.describe(e, preds[e.index], model, target as number, { spec, values }, !!raw, signal);
  }

  /** The example's model input and baseline, and what its card shows of each feature, for the page's in-browser mode. */
  async tensors(i: unknown): Promise<{ input: HostArray; baseline: HostArray; shown: HostArray[] }> {
    const e = await this.exampleAt(i);
    return { input: e.input, baseline: e.baseline, shown: e.parts.map((p) => p.shown) };
  }

  /** The model, for the page's in-browser mode: a ResNet (its weights go as safetensors) or an ONNX graph read from one file. */
  modelForBrowser(m: unknown): ResNet | GraphModel {
    const net = this.o.models[this.checkModel(m)];
    if (net instanceof GraphModel && !net.sourceBytes) throw new RequestError('this ONNX model keeps its tensors in external files: it can run on the server only');
    if (!(net instanceof ResNet) && !(net instanceof GraphModel)) throw new RequestError('this model is neither a Glimpse ResNet nor an ONNX graph: it can run on the server only');
    return net;
  }

  /** What a card shows of each feature of an example before attribution: the image, the words, or the row's values. */
  private shown(e: Example): ShownPart[] {
    return this.o.features.map((f, k): ShownPart => {
      const shown = e.parts[k].shown, base: ShownPart = { name: f.name, type: f.kind };
      if (f.kind === 'image') return { ...base, original: this.o.encodeImage(renderImageAttr(null, shown, { method: 'original_image' })) };
      if (f.kind === 'text') return { ...base, tokens: f.words(Array.from(shown.data)) };
      return { ...base, values: f.categories.map((name, i) => ({ name, value: shown.data[i] })) };
    });
  }

  private async describe(e: Example, preds: Prediction[], model: number, target: number, job: { spec: MethodSpec; values: ArgumentValues } | null, raw: boolean, signal?: AbortSignal) {
    const cls = (i: number) => ({ index: i, name: this.o.classes[i] });
    const base = { index: e.index, label: e.label === null ? null : cls(e.label), predictions: preds, target: cls(target), model, inputs: this.shown(e) };
    if (!job) return { ...base, attribution: null };
    const { spec } = job;
    const layers = await this.layers(model); // before the job: finding them is a job of its own
    const { data, shape, delta, seconds } = await this.queue.run(`${spec.label}, ${e.index < 0 ? 'the input' : `example ${e.index}`}`, (progress) => tidy(async () => {
      const t0 = performance.now();
      const ctx = this.o.ctx, dims = e.input.shape;
      const x = fromArray(ctx, e.input.data, [1, ...dims]);
      const baseline = fromArray(ctx, e.baseline.data, [1, ...dims]);
      const out = await runMethod(spec, x, target, job.values, { net: this.o.models[model], layers, baseline, featureMask: ablationGroups(this.o.features, e.parts.map((p) => p.input.shape)), onProgress: progress });
      return { ...out, seconds: (performance.now() - t0) / 1000 };
    }), signal);
    const { views, contributions } = attributionViews(this.o.features, { data, shape }, e.parts.map((p) => ({ shown: p.shown, inputShape: p.input.shape })));
    const features = views.map(({ heatMap, blended, ...v }) => ({ ...v, ...(heatMap && blended ? { heatMap: this.o.encodeImage(heatMap), blended: this.o.encodeImage(blended) } : {}) }));
    return {
      ...base,
      attribution: {
        method: spec.name, arguments: job.values, seconds, computedOn: 'server', features, contributions, delta,
        ...(raw ? { shape, data: encodeFloats(data) } : {}),
      },
    };
  }

  /** Starts the explorer's HTTP server (Node only). */
  async serve(opts: import('./server.ts').ServerOptions = {}): Promise<{ url: string; close(): Promise<void> }> {
    const { startServer } = await import('./server.ts');
    return startServer(this, opts);
  }
}
