// The explorer as tests run it: the seeded ResNet-18 of ../shared/ref on four 64x64 views of
// chelsea.png (as is, mirrored, a corner crop, grayscale), example 0 labelled with its own top
// prediction so that the correct / incorrect filters both have members.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tableData, textData } from '../src/cli/insights-data.ts';
import { parseSafetensors } from '../src/io/safetensors.ts';
import { fromArray, noGrad, tidy } from '../src/autograd/index.ts';
import type { GpuContext } from '../src/gpu/device.ts';
import { encodePng, readImage } from '../src/io/image-decode.ts';
import { preprocessImage } from '../src/io/image.ts';
import { AttributionVisualizer, GeneralFeature, ImageFeature, TextFeature, normalizeTransform, tokenReferenceBaseline, zeroBaseline } from '../src/insights/visualizer.ts';
import { REF_DIR, resnet18Seed0 } from './refdata.ts';
import { loadOnnxClassifier } from '../src/io/models.ts';

export const SIZE = 64;

export function views(): Float32Array[] {
  const x = preprocessImage(readImage(join(REF_DIR, 'images', 'chelsea.png')), { resize: SIZE, crop: SIZE });
  const big = preprocessImage(readImage(join(REF_DIR, 'images', 'chelsea.png')), { resize: SIZE * 2, crop: SIZE * 2 });
  const n = SIZE * SIZE, mirror = new Float32Array(3 * n), corner = new Float32Array(3 * n), gray = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) for (let y = 0; y < SIZE; y++) for (let xx = 0; xx < SIZE; xx++) {
    mirror[c * n + y * SIZE + xx] = x[c * n + y * SIZE + (SIZE - 1 - xx)];
    corner[c * n + y * SIZE + xx] = big[c * 4 * n + y * 2 * SIZE + xx];
  }
  for (let i = 0; i < n; i++) gray[i] = gray[n + i] = gray[2 * n + i] = (x[i] + x[n + i] + x[2 * n + i]) / 3;
  return [x, mirror, corner, gray];
}

export async function insightsFixture(ctx: GpuContext) {
  const model = await resnet18Seed0(ctx);
  const p = model.card.preprocessing;
  const imgs = views();
  const normalize = normalizeTransform(p.mean, p.std);
  const top0 = await tidy(async () => {
    const x = fromArray(ctx, normalize({ data: imgs[0], shape: [3, SIZE, SIZE] }).data, [1, 3, SIZE, SIZE]);
    const y = await noGrad(() => model.net.call(x)).data();
    return y.indexOf(Math.max(...y));
  });
  const labels = [top0, 0, 285, null];
  const data = new Float32Array(4 * 3 * SIZE * SIZE);
  imgs.forEach((v, i) => data.set(v, i * v.length));
  const vis = new AttributionVisualizer({
    ctx, models: [model.net], classes: model.classes,
    features: [new ImageFeature('Photo', { inputTransforms: [normalize], baselineTransforms: [zeroBaseline] })],
    dataset: [{ inputs: { data: data.subarray(0, 2 * 3 * SIZE * SIZE), shape: [2, 3, SIZE, SIZE] }, labels: labels.slice(0, 2) },
      { inputs: { data: data.subarray(2 * 3 * SIZE * SIZE), shape: [2, 3, SIZE, SIZE] }, labels: labels.slice(2) }],
    encodeImage: (img) => `data:image/png;base64,${encodePng(img).toString('base64')}`,
  });
  return { vis, model, labels, normalize, imgs };
}

/** The same four views explained by an ONNX model (SqueezeNet 1.1 of ../shared/ref/models), for the in-browser ONNX path. */
export async function onnxInsightsFixture(ctx: GpuContext) {
  const model = loadOnnxClassifier(ctx, join(REF_DIR, 'models', 'squeezenet1_1_seed0.onnx'), { size: SIZE });
  const p = model.card.preprocessing;
  const normalize = normalizeTransform(p.mean, p.std);
  const imgs = views();
  const data = new Float32Array(4 * 3 * SIZE * SIZE);
  imgs.forEach((v, i) => data.set(v, i * v.length));
  const vis = new AttributionVisualizer({
    ctx, models: [model.net], classes: model.classes,
    features: [new ImageFeature('Photo', { inputTransforms: [normalize], baselineTransforms: [zeroBaseline] })],
    dataset: [{ inputs: { data, shape: [4, 3, SIZE, SIZE] }, labels: [0, 1, 2, null] }],
    encodeImage: (img) => `data:image/png;base64,${encodePng(img).toString('base64')}`,
  });
  return { vis, model };
}

/** Two models side by side over the four views: the seeded ResNet-18 and SqueezeNet 1.1 from ONNX. */
export async function twoModelFixture(ctx: GpuContext) {
  const resnet = await resnet18Seed0(ctx);
  const squeeze = loadOnnxClassifier(ctx, join(REF_DIR, 'models', 'squeezenet1_1_seed0.onnx'), { size: SIZE });
  const p = resnet.card.preprocessing;
  const normalize = normalizeTransform(p.mean, p.std);
  const data = new Float32Array(4 * 3 * SIZE * SIZE);
  views().forEach((v, i) => data.set(v, i * v.length));
  // Example 0 is labelled with the ResNet's top prediction: right for one model, not (as it happens) for the other.
  const top0 = await tidy(async () => {
    const y = await noGrad(() => resnet.net.call(fromArray(ctx, normalize({ data: data.subarray(0, 3 * SIZE * SIZE), shape: [3, SIZE, SIZE] }).data, [1, 3, SIZE, SIZE]))).data();
    return y.indexOf(Math.max(...y));
  });
  const labels = [top0, 285, null, null];
  const vis = new AttributionVisualizer({
    ctx, models: [resnet.net, squeeze.net], classes: resnet.classes,
    features: [new ImageFeature('Photo', { inputTransforms: [normalize], baselineTransforms: [zeroBaseline] })],
    dataset: [{ inputs: { data, shape: [4, 3, SIZE, SIZE] }, labels }],
    encodeImage: (img) => `data:image/png;base64,${encodePng(img).toString('base64')}`,
  });
  return { vis, nets: [resnet.net, squeeze.net], labels };
}

/** Where the text and table fixtures write their inputs (the reference files stay as they are). */
const FIXTURE_TMP = join(tmpdir(), `glimpse-insights-${process.pid}`);

/**
 * The sentiment CNN of ../shared/ref/models over its four reference sentences, the first two labelled
 * with the reference's predicted class, the third with the other one (an incorrect example), the
 * fourth not at all.
 */
export async function textInsightsFixture(ctx: GpuContext) {
  const M = join(REF_DIR, 'models');
  const model = loadOnnxClassifier(ctx, join(M, 'sentiment_cnn.onnx'));
  const { tensors, metadata } = parseSafetensors(new Uint8Array(readFileSync(join(M, 'sentiment_ref.safetensors'))));
  const sentences: string[] = JSON.parse(metadata.sentences);
  const logits = tensors.get('logits')!.data as Float32Array;
  const predicted = sentences.map((_, i) => (logits[2 * i + 1] > logits[2 * i] ? 1 : 0));
  const labels = [predicted[0], predicted[1], 1 - predicted[2], null];
  mkdirSync(FIXTURE_TMP, { recursive: true });
  const file = join(FIXTURE_TMP, 'sentences.txt');
  writeFileSync(file, sentences.map((s, i) => `${labels[i] === null ? '' : ['negative', 'positive'][labels[i]!]}\t${s}`).join('\n') + '\n');
  const data = textData({ textFile: file, vocab: join(M, 'sentiment_vocab.json'), model });
  const vis = new AttributionVisualizer({ ctx, models: [model.net], classes: data.classes, features: [data.feature], dataset: data.dataset, encodeImage: () => '' });
  return { vis, model, sentences };
}

/** The wine MLP over the eight reference rows of wine.csv, standardized with the reference's mean and std. */
export async function tableInsightsFixture(ctx: GpuContext) {
  const M = join(REF_DIR, 'models');
  const model = loadOnnxClassifier(ctx, join(M, 'wine_mlp.onnx'));
  const { tensors, metadata } = parseSafetensors(new Uint8Array(readFileSync(join(M, 'wine_ref.safetensors'))));
  const rows: number[] = JSON.parse(metadata.rows);
  const lines = readFileSync(join(M, 'wine.csv'), 'utf8').trim().split('\n');
  mkdirSync(FIXTURE_TMP, { recursive: true });
  const csv = join(FIXTURE_TMP, 'wine8.csv'), norm = join(FIXTURE_TMP, 'wine_norm.json');
  writeFileSync(csv, [lines[0], ...rows.map((r) => lines[r + 1])].join('\n') + '\n');
  writeFileSync(norm, JSON.stringify({ mean: Array.from(tensors.get('mean')!.data as Float32Array), std: Array.from(tensors.get('std')!.data as Float32Array) }));
  const data = tableData({ csv, model, normalize: norm, classes: JSON.parse(metadata.classes) });
  const vis = new AttributionVisualizer({ ctx, models: [model.net], classes: data.classes, features: [data.feature], dataset: data.dataset, encodeImage: () => '' });
  return { vis, model, ref: tensors, targets: JSON.parse(metadata.targets) as number[] };
}

/**
 * Models of two inputs (test/fixtures/onnx, make_two_inputs.py): two table groups (labs, vitals), or
 * token ids and a table row; one feature each, the dataset as one array per feature.
 */
export async function severalFeaturesFixture(ctx: GpuContext, which: 'two_tables' | 'text_and_table') {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'onnx');
  const model = loadOnnxClassifier(ctx, join(dir, `${which}.onnx`));
  const { tensors } = parseSafetensors(new Uint8Array(readFileSync(join(dir, `${which}_ref.safetensors`))));
  const array = (k: string) => { const t = tensors.get(k)!; return { data: Float32Array.from(t.data as ArrayLike<number | bigint>, Number), shape: t.shape }; };
  const features = which === 'two_tables'
    ? [new GeneralFeature('Labs', ['a', 'b', 'c', 'd']), new GeneralFeature('Vitals', ['pulse', 'pressure', 'temperature'])]
    : [new TextFeature('Words', { vocabulary: { vocab: Array.from({ length: 12 }, (_, i) => (i === 0 ? '<unk>' : i === 1 ? '<pad>' : `w${i}`)), unk: 0, pad: 1, length: 6 }, baselineTransforms: [tokenReferenceBaseline(1)] }),
      new GeneralFeature('Features', ['x', 'y', 'z'])];
  const inputs = which === 'two_tables' ? [array('labs'), array('vitals')] : [array('tokens'), array('features')];
  const classes = model.classes;
  const vis = new AttributionVisualizer({ ctx, models: [model.net], classes, features, dataset: [{ inputs }], encodeImage: () => '', useLabelForAttr: false });
  return { vis, model, ref: (k: string) => array(k).data, targets: Array.from(tensors.get('target')!.data as BigInt64Array, Number) };
}
