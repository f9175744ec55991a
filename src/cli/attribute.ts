import { type Tensor, fromArray, tidy } from '../autograd/index.ts';
import * as A from '../attr/index.ts';
import type { Classifier } from '../nn/model.ts';
import { UsageError, int, parseArgs, type FlagSpec, type Parsed } from './args.ts';
import { MODEL_FLAGS, checkOutputFolder, readInput, withModel, writeTensors } from './common.ts';
import { progressBar } from './progress.ts';
import { writeFileSync } from 'node:fs';
import { tokenSaliency } from '../insights/methods.ts';
import { embeddingLayer, tableInput, textInput, textReport, textTensor } from './text-table.ts';
import { attributeBatch } from './batch.ts';
import { VISUALIZE_METHODS, VISUALIZE_SIGNS, type VisualizeMethod, type VisualizeSign, visualizeFeatureBars, visualizeImageAttr } from '../io/visualize.ts';
import { encodePng } from '../io/image-decode.ts';
import type { HostTensor } from '../io/host-tensor.ts';

type Run = (model: Classifier, x: Tensor, target: number[] | undefined, a: Parsed, progress: (done: number, total: number) => void) => Promise<Tensor | [Tensor, Tensor]>;

const PATH = ['n-steps', 'ig-method', 'baselines', 'internal-batch-size', 'return-convergence-delta'];
const LAYER = ['layer', 'attribute-to-layer-input'];
const RESIZE = ['interpolate', 'interpolate-mode'];

function path(a: Parsed) {
  const method = (a['ig-method'] as string | undefined) ?? 'gausslegendre';
  if (!A.INTEGRATION_METHODS.includes(method as A.IntegrationMethod)) throw new UsageError(`--ig-method must be one of ${A.INTEGRATION_METHODS.join(', ')}`);
  return {
    nSteps: steps(a), method: method as A.IntegrationMethod, baselines: a.baselines as number | undefined,
    internalBatchSize: int(a['internal-batch-size'], 'internal-batch-size', 1), returnConvergenceDelta: !!a['return-convergence-delta'],
  };
}
/** More steps than this is a mistake on any adapter: IG-10000 on ResNet-50 takes hours on a CPU one. */
export const MAX_STEPS = 10_000;
function steps(a: Parsed): number {
  const n = int(a['n-steps'], 'n-steps', 1) ?? 50;
  if (n > MAX_STEPS) throw new UsageError(`--n-steps ${n} is over the limit of ${MAX_STEPS}`);
  return n;
}
function layerName(a: Parsed): string {
  if (!a.layer) throw new UsageError('this method needs --layer NAME (a dotted module name such as layer3.1.conv2)');
  return a.layer as string;
}
function numbers(a: Parsed, flag: string, required: boolean): number[] | undefined {
  const v = a[flag] as number[] | undefined;
  if (required && !v) throw new UsageError(`this method needs --${flag}`);
  return v;
}

/** Each method: the options it takes (besides the common ones) and how to run it. */
const METHODS: Record<string, { flags: string[]; run: Run }> = {
  'integrated-gradients': { flags: PATH, run: (m, x, target, a, onProgress) => new A.IntegratedGradients(m.net).attribute(x, { target, ...path(a), onProgress }) },
  saliency: {
    // Over token ids, the gradient at the embedding (--layer: another per-token layer), per token and dimension.
    flags: ['no-abs', 'layer'],
    run: (m, x, target, a) => (a.layer ? tokenSaliency(m.net, a.layer as string, x, target, !a['no-abs']) : new A.Saliency(m.net).attribute(x, { target, abs: !a['no-abs'] })),
  },
  'input-x-gradient': { flags: [], run: (m, x, target) => new A.InputXGradient(m.net).attribute(x, { target }) },
  'guided-backprop': { flags: [], run: (m, x, target) => new A.GuidedBackprop(m.net).attribute(x, { target }) },
  deconvolution: { flags: [], run: (m, x, target) => new A.Deconvolution(m.net).attribute(x, { target }) },
  occlusion: {
    flags: ['sliding-window-shapes', 'strides', 'baselines', 'perturbations-per-eval'],
    run: (m, x, target, a, onProgress) => new A.Occlusion(m.net).attribute(x, {
      target, slidingWindowShapes: numbers(a, 'sliding-window-shapes', true)!, strides: numbers(a, 'strides', false),
      baselines: a.baselines as number | undefined, perturbationsPerEval: int(a['perturbations-per-eval'], 'perturbations-per-eval', 1), onProgress,
    }),
  },
  'feature-ablation': {
    flags: ['baselines', 'perturbations-per-eval', 'feature-mask'],
    run: async (m, x, target, a, onProgress) => {
      const mask = a['feature-mask'] ? readInput({ input: a['feature-mask'] }, m, true).data as Float32Array : undefined;
      return new A.FeatureAblation(m.net).attribute(x, { target, baselines: a.baselines as number | undefined, featureMask: mask, perturbationsPerEval: int(a['perturbations-per-eval'], 'perturbations-per-eval', 1), onProgress });
    },
  },
  'layer-gradcam': {
    flags: [...LAYER, ...RESIZE, 'relu-attributions'],
    run: (m, x, target, a) => new A.LayerGradCam(m.net, layerName(a)).attribute(x, { target, reluAttributions: !!a['relu-attributions'], attributeToLayerInput: !!a['attribute-to-layer-input'] }),
  },
  'guided-gradcam': {
    flags: [...LAYER, 'interpolate-mode'],
    run: (m, x, target, a) => new A.GuidedGradCam(m.net, layerName(a)).attribute(x, { target, attributeToLayerInput: !!a['attribute-to-layer-input'], interpolateMode: interpolateMode(a) }),
  },
  'layer-activation': { flags: [...LAYER, ...RESIZE], run: (m, x, _t, a) => new A.LayerActivation(m.net, layerName(a)).attribute(x, { attributeToLayerInput: !!a['attribute-to-layer-input'] }) },
  'layer-gradient-x-activation': {
    flags: [...LAYER, ...RESIZE],
    run: (m, x, target, a) => new A.LayerGradientXActivation(m.net, layerName(a)).attribute(x, { target, attributeToLayerInput: !!a['attribute-to-layer-input'] }),
  },
  'layer-conductance': {
    flags: [...LAYER, ...RESIZE, ...PATH],
    run: (m, x, target, a, onProgress) => new A.LayerConductance(m.net, layerName(a)).attribute(x, { target, attributeToLayerInput: !!a['attribute-to-layer-input'], ...path(a), onProgress }),
  },
  'layer-integrated-gradients': {
    flags: [...LAYER, ...RESIZE, ...PATH],
    run: (m, x, target, a, onProgress) => new A.LayerIntegratedGradients(m.net, layerName(a)).attribute(x, { target, attributeToLayerInput: !!a['attribute-to-layer-input'], ...path(a), onProgress }),
  },
  'gradient-shap': {
    flags: ['baselines', 'n-samples', 'stdevs', 'seed'],
    run: (m, x, target, a) => tidy(async () => {
      const baselines = fromArray(x.ctx, new Float32Array(x.size / x.shape[0]).fill((a.baselines as number | undefined) ?? 0), [1, ...x.shape.slice(1)]);
      return new A.GradientShap(m.net).attribute(x, { target, baselines, nSamples: int(a['n-samples'], 'n-samples', 1), stdevs: a.stdevs as number | undefined, seed: int(a.seed, 'seed') });
    }),
  },
};

const NOISE_TUNNEL_FLAGS = ['nt-method', 'nt-type', 'nt-samples', 'nt-samples-batch-size', 'stdevs', 'seed'];

function interpolateMode(a: Parsed): 'nearest' | 'bilinear' | undefined {
  const m = a['interpolate-mode'];
  if (m !== undefined && m !== 'nearest' && m !== 'bilinear') throw new UsageError(`--interpolate-mode must be nearest or bilinear, got '${m}'`);
  return m as 'nearest' | 'bilinear' | undefined;
}

const BATCH_FLAGS = ['images', 'list', 'text-file', 'out', 'labels', 'shard', 'shards', 'force', 'metrics', 'images-per-pass'];

const ALL_FLAGS: FlagSpec = {
  ...MODEL_FLAGS, method: 'string', target: 'string', save: 'string',
  images: 'string', list: 'string', out: 'string', labels: 'string', shard: 'string', shards: 'number', force: 'boolean', metrics: 'string',
  'images-per-pass': 'number',
  'n-steps': 'number', 'ig-method': 'string', baselines: 'number', 'internal-batch-size': 'number', 'return-convergence-delta': 'boolean',
  'sliding-window-shapes': 'numbers', strides: 'numbers', 'perturbations-per-eval': 'number', 'feature-mask': 'string',
  layer: 'string', 'relu-attributions': 'boolean', 'attribute-to-layer-input': 'boolean', interpolate: 'numbers', 'interpolate-mode': 'string',
  'no-abs': 'boolean', 'n-samples': 'number', stdevs: 'number', seed: 'number',
  'nt-method': 'string', 'nt-type': 'string', 'nt-samples': 'number', 'nt-samples-batch-size': 'number',
  png: 'string', viz: 'string', sign: 'string', 'outlier-perc': 'number', text: 'string', vocab: 'string', html: 'string', 'text-file': 'string',
  csv: 'string', row: 'number', 'label-column': 'string', normalize: 'string',
};
const COMMON = new Set([...Object.keys(MODEL_FLAGS), 'method', 'target', 'save', 'png', 'viz', 'sign', 'outlier-perc', 'text', 'vocab', 'html', 'csv', 'row', 'label-column', 'normalize',
  ...BATCH_FLAGS]);

export const ATTRIBUTE_HELP = `glimpse attribute (--model resnet50 | --weights FILE --arch A) (--image FILE | --input FILE.safetensors:KEY)
                  --method M [--target N] [options] --save OUT.safetensors
       glimpse attribute --model M.onnx --vocab V.json --text "a sentence" --method layer-integrated-gradients
                  --layer embedding [--target N] --html OUT.html [--save OUT.safetensors]
  Attributes the model's score for class N (default: its top-1 prediction) to the input or a layer,
  and writes 'attributions' (and 'delta' with --return-convergence-delta) to OUT.safetensors.
  Methods (Captum's, in kebab-case) and their options:
${Object.entries(METHODS).map(([m, d]) => `    ${m.padEnd(28)} ${d.flags.map((f) => `--${f}`).join(' ')}`).join('\n')}
    noise-tunnel                 --nt-method M2 [--nt-type smoothgrad|smoothgrad_sq|vargrad] [--nt-samples 5]
                                 [--nt-samples-batch-size B] [--stdevs 1.0] [--seed S], plus M2's options
  Option values: --ig-method gausslegendre|riemann_left|riemann_right|riemann_middle|riemann_trapezoid,
  --sliding-window-shapes 3,15,15 --strides 3,8,8, --layer layer3.1.conv2, --interpolate 224,224,
  --interpolate-mode nearest|bilinear. A negative number is a value: --baselines -0.5.
  Pictures (Captum's visualize_image_attr): --png OUT.png [--viz heat_map|blended_heat_map|original_image|
  masked_image|alpha_scaling] [--sign all|positive|negative|absolute_value] [--outlier-perc 2]. Methods
  other than heat_map draw over the --image; layer maps need --interpolate to the image size.
  Text (a model of token ids): --vocab V.json (tokens in index order, "unk", "pad", "length") and --text;
  --baselines defaults to the pad index (Captum's TokenReferenceBase); --html writes Captum's
  visualize_text table (attributions summed per token, divided by their L2 norm).
  Tables (a model of [N, C] features): --csv FILE --row I (0 = the first data row) [--label-column NAME]
  [--normalize FILE.json with "mean" and "std" per feature]; --png draws one bar per feature.
  Batches: --images DIR (every .png/.jpg below it), --list FILE (paths, one per line), --text-file FILE
  (one text per line, "LABEL<TAB>text" optional; with --vocab) or --csv FILE (every row) with --out OUT
  writes OUT/<path>.safetensors per input (OUT/line-N, OUT/row-N for texts and rows) and OUT/index.jsonl (file, target, prediction, delta, metrics,
  seconds); --target N|label|top1 (label: from --labels labels.json); --metrics infidelity,
  sensitivity-max,deletion,insertion; --shard I/N or auto [--shards N] (Kubernetes Indexed Job, Slurm
  array); a rerun skips what is done (same image bytes, method and options); --force recomputes;
  --images-per-pass B runs B images through each of the method's passes (faster on a GPU; default 1).
  glimpse index OUT merges the shards' outputs into OUT/index.jsonl and lists what is missing.`;

/** --target as one class or one per example (single-input runs). */
function parseTargets(v: unknown): number[] | undefined {
  if (v === undefined) return undefined;
  const parts = String(v).split(',');
  if (parts.some((p) => !/^\d+$/.test(p.trim()))) throw new UsageError(`--target must be class indices (N or N,N,...), got '${v}'${v === 'label' || v === 'top1' ? ` ('${v}' is for a batch run: --images DIR)` : ''}`);
  return parts.map(Number);
}

/** A batch run writes under --out, one file per input: the single-input options do not apply. */
function checkBatchFlags(a: Parsed): void {
  const given = ['images', 'list', 'text-file', 'csv'].filter((f) => a[f] !== undefined);
  if (given.length > 1) throw new UsageError(`give one batch input, not --${given.join(' and --')}`);
  if (!a.out) throw new UsageError('a batch run (--images DIR, --list FILE or --text-file FILE) writes under --out DIR');
  for (const f of ['save', 'png', 'html', 'image', 'input', 'text', 'row']) {
    if (a[f] !== undefined) throw new UsageError(`--${f} describes one input; a batch run writes OUT/<path>.safetensors per input under --out${f === 'png' ? ' (--viz METHOD adds OUT/<path>.png)' : ''}`);
  }
  if (a.shards !== undefined && a.shard !== 'auto') throw new UsageError('--shards N goes with --shard auto (with --shard I/N the count is N)');
}

/** The largest side --interpolate makes: beyond it a map is no picture, only memory. */
const MAX_SIDE = 8192;


export async function attribute(argv: string[]): Promise<void> {
  const a = parseArgs(argv, ALL_FLAGS, 'attribute');
  const name = a.method as string | undefined;
  if (!name) throw new UsageError('give --method (see glimpse attribute --help)');
  const tunnel = name === 'noise-tunnel';
  const inner = tunnel ? (a['nt-method'] as string | undefined) : name;
  if (tunnel && !inner) throw new UsageError('noise-tunnel needs --nt-method (the method to smooth)');
  const def = METHODS[inner!];
  if (!def) throw new UsageError(`unknown method '${inner}'; methods: ${[...Object.keys(METHODS), 'noise-tunnel'].join(', ')}`);
  const allowed = new Set([...COMMON, ...def.flags, ...(tunnel ? NOISE_TUNNEL_FLAGS : [])]);
  for (const flag of Object.keys(a)) {
    if (!allowed.has(flag)) throw new UsageError(`--${flag} is not an option of ${name}${tunnel ? ` with --nt-method ${inner}` : ''} (see glimpse attribute --help)`);
  }
  // Every image of a folder, every line of a text file, every row of a CSV (with --out, without --row).
  const batch = !!(a.images || a.list || a['text-file'] || (a.csv && a.out !== undefined && a.row === undefined));
  if (batch) checkBatchFlags(a);
  else if (BATCH_FLAGS.some((f) => a[f] !== undefined && f !== 'images' && f !== 'list')) throw new UsageError('--out, --labels, --shard, --shards, --force, --metrics and --images-per-pass go with a batch run: --images DIR, --list FILE, --text-file FILE or --csv FILE --out DIR');
  if (!batch) a.target = parseTargets(a.target);
  if (!a.save && !a.html && !batch) throw new UsageError('give --save OUT.safetensors (or, with --text, --html OUT.html)');
  if ((a.vocab || a.html) && !a.text && !a['text-file']) throw new UsageError('--vocab and --html go with --text "..."');
  if ((a.text || a['text-file']) && !a.vocab) throw new UsageError('--text needs --vocab V.json (the model\'s tokens in index order, with its "unk" and "pad" indices)');
  if ([a.text, a.image, a.input, a.csv].filter(Boolean).length > 1) throw new UsageError('give one input: --image, --input, --text or --csv');
  if ((a.row !== undefined || a['label-column'] || a.normalize) && !a.csv) throw new UsageError('--row, --label-column and --normalize go with --csv FILE');
  if (a.csv && a.row === undefined && !batch) throw new UsageError('--csv needs --row I (0 = the first data row), or --out DIR for every row');
  if (a.html && !(a.html as string).endsWith('.html')) throw new UsageError(`--html must name a .html file, got ${a.html}`);
  if (a.text && a.png) throw new UsageError('--png draws images; for a text, --html draws its words');
  for (const flag of ['save', 'png', 'html']) if (a[flag]) checkOutputFolder(a[flag] as string, flag);
  // Token ids are indices: nothing differentiates through them (the embedding lookup has no gradient to them).
  if (inner === 'saliency' && a.layer && !a.text) throw new UsageError('--layer goes with saliency over a --text (the gradient at that per-token layer)');
  const toInput = ['integrated-gradients', 'input-x-gradient', 'guided-backprop', 'deconvolution', 'gradient-shap', 'guided-gradcam'];
  if ((a.text || a['text-file']) && toInput.includes(inner!)) throw new UsageError(`${inner} differentiates the input, and token ids have no gradient: attribute to the embedding (--method layer-integrated-gradients or layer-gradient-x-activation --layer NAME), or use occlusion or feature-ablation`);
  const text = a.text ? textInput(a) : null;
  if ((text || a['text-file']) && inner === 'saliency' && !a.layer) a.layer = ''; // the embedding, found once the model is read
  // Captum's TokenReferenceBase: every token the pad index.
  if (text && a.baselines === undefined) a.baselines = text.vocab.pad;
  if (a['outlier-perc'] !== undefined && !((a['outlier-perc'] as number) >= 0 && (a['outlier-perc'] as number) < 100)) throw new UsageError(`--outlier-perc must be at least 0 and below 100, got ${a['outlier-perc']}`);
  if (def.flags.includes('n-steps')) path(a); // the path options' checks, before any work
  const size = a.interpolate as number[] | undefined;
  if (size && (size.length !== 2 || size.some((v) => !Number.isInteger(v) || v < 1))) throw new UsageError('--interpolate takes two positive integers: H,W');
  if (size && size.some((v) => v > MAX_SIDE)) throw new UsageError(`--interpolate ${size.join(',')}: each side is at most ${MAX_SIDE}`);
  const mode = interpolateMode(a);
  if (mode && !size && name !== 'guided-gradcam') throw new UsageError('--interpolate-mode goes with --interpolate H,W');
  if ((a.viz || a.sign || a['outlier-perc'] !== undefined) && !a.png && !batch) throw new UsageError('--viz, --sign and --outlier-perc describe the --png picture');
  if ((a.sign || a['outlier-perc'] !== undefined) && batch && !a.viz) throw new UsageError('--sign and --outlier-perc describe the figures of --viz METHOD');
  if (a.png && !(a.png as string).endsWith('.png')) throw new UsageError(`--png must name a .png file, got ${a.png}`);
  // Captum's defaults: a heat map of absolute values.
  const vizMethod = (a.viz as VisualizeMethod | undefined) ?? 'heat_map', sign = (a.sign as VisualizeSign | undefined) ?? 'absolute_value';
  if (!VISUALIZE_METHODS.includes(vizMethod)) throw new UsageError(`--viz must be one of ${VISUALIZE_METHODS.join(', ')}`);
  if (!VISUALIZE_SIGNS.includes(sign)) throw new UsageError(`--sign must be one of ${VISUALIZE_SIGNS.join(', ')}`);
  if (a.png && vizMethod !== 'heat_map' && !a.image) throw new UsageError(`--viz ${vizMethod} draws over the image: give --image rather than --input`);
  if (a.csv && (a.viz || a.sign || a['outlier-perc'] !== undefined)) throw new UsageError('--viz, --sign and --outlier-perc describe image pictures; a table row draws as bars');

  /** The method on a batch, as the command runs it: plain, or inside a noise tunnel. */
  const compute = (model: Classifier, x: Tensor, target: number[] | undefined, onProgress: (done: number, total: number) => void): Promise<Tensor | [Tensor, Tensor]> => {
    if (!tunnel) return def.run(model, x, target, a, onProgress);
    const method = { attribute: (xs: Tensor, o?: Record<string, unknown>) => def.run(model, xs, o?.target as number[] | undefined, a, () => {}) as Promise<Tensor> };
    const ntType = (a['nt-type'] as string | undefined) ?? 'smoothgrad';
    return new A.NoiseTunnel(method, model.net).attribute(x, {
      target, ntType: ntType as A.NoiseTunnelType, nSamples: int(a['nt-samples'], 'nt-samples', 1), nSamplesBatchSize: int(a['nt-samples-batch-size'], 'nt-samples-batch-size', 1),
      stdevs: a.stdevs as number | undefined, seed: int(a.seed, 'seed'), onProgress,
    });
  };

  await withModel(a, async (ctx, model) => {
    if (a.layer === '') {
      a.layer = embeddingLayer(model) ?? '';
      if (!a.layer) throw new UsageError('saliency over a text takes the gradient at the embedding, and this model has no Gather reading its input: give --layer NAME (glimpse layers --model M lists them)');
    }
    if (batch) {
      await attributeBatch(a, name, ctx, model, async (m, x, target, onProgress) => {
        const r = await compute(m, x, target, onProgress);
        if (!size) return r;
        const [attr, delta] = Array.isArray(r) ? r : [r, null];
        const up = A.LayerAttribution.interpolate(attr, [size[0], size[1]], mode ?? 'nearest');
        return delta ? [up, delta] : up;
      });
      return;
    }
    const table = a.csv ? tableInput(a, model) : null;
    const input: HostTensor & { pixels?: Float32Array } = text ? textTensor(text, model) : table ? table.input : readInput(a, model);
    const targets = a.target as number[] | undefined;
    if (targets) {
      if (targets.length !== 1 && targets.length !== input.shape[0]) throw new UsageError(`--target gives ${targets.length} classes for ${input.shape[0]} examples`);
      for (const t of targets) if (!Number.isInteger(t) || t < 0 || t >= model.classes.length) throw new UsageError(`--target ${t} is not a class of this model (0..${model.classes.length - 1})`);
    }
    const target = targets ? (targets.length === 1 ? new Array(input.shape[0]).fill(targets[0]) : targets) : undefined;
    const bar = progressBar(name);
    const t0 = performance.now();
    await tidy(async () => {
      const x = fromArray(ctx, input.data as Float32Array, input.shape);
      const result = await compute(model, x, target, bar.update);
      bar.done();
      let [attr, delta] = Array.isArray(result) ? result : [result, null];
      if (size) attr = A.LayerAttribution.interpolate(attr, [size[0], size[1]], mode ?? 'nearest');
      const data = await attr.data();
      const out: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = { attributions: { dtype: 'F32', shape: [...attr.shape], data } };
      if (delta) out.delta = { dtype: 'F32', shape: [...delta.shape], data: await delta.data() };
      const seconds = (performance.now() - t0) / 1000;
      if (a.save) writeTensors(a.save as string, out, { method: name, options: JSON.stringify(Object.fromEntries(Object.entries(a).filter(([k]) => !['save', 'image', 'input', 'weights', 'model'].includes(k)))), seconds: seconds.toFixed(3) });
      let lo = Infinity, hi = -Infinity, sum = 0;
      for (const v of data) { lo = Math.min(lo, v); hi = Math.max(hi, v); sum += v; }
      console.log(`${name}: attributions [${attr.shape.join(', ')}] in ${seconds.toFixed(2)} s; min ${lo.toPrecision(4)}, max ${hi.toPrecision(4)}, sum ${sum.toPrecision(5)}`);
      if (delta) console.log(`convergence delta: ${[...out.delta.data].map((v) => v.toPrecision(4)).join(', ')}`);
      if (a.save) console.log(`wrote ${a.save}`);
      if (text && a.html) {
        writeFileSync(a.html as string, await textReport(text, model, x, attr, data, target?.[0], name));
        console.log(`wrote ${a.html}`);
      }
      if (table && a.png) {
        writeFileSync(a.png as string, encodePng(visualizeFeatureBars(data, table.features, { title: `${name}${target ? ` (class ${target[0]})` : ''}, row ${a.row}` })));
        console.log(`wrote ${a.png}`);
      } else if (a.png) {
        if (attr.shape[0] !== 1) throw new UsageError('--png draws one example; the input holds several');
        const original = vizMethod === 'heat_map' || !input.pixels ? null : { data: input.pixels, shape: [3, model.card.preprocessing.crop, model.card.preprocessing.crop] };
        writeFileSync(a.png as string, encodePng(visualizeImageAttr({ data, shape: attr.shape }, original, {
          method: vizMethod, sign, outlierPerc: a['outlier-perc'] as number | undefined, showColorbar: vizMethod === 'heat_map' || vizMethod === 'blended_heat_map', title: `${name}${target ? ` (class ${target[0]})` : ''}`,
        })));
        console.log(`wrote ${a.png}`);
      }
    });
  });
}
