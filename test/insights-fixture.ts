// The explorer as tests run it: the seeded ResNet-18 of ../shared/ref on four 64x64 views of
// chelsea.png (as is, mirrored, a corner crop, grayscale), example 0 labelled with its own top
// prediction so that the correct / incorrect filters both have members.
import { join } from 'node:path';
import { fromArray, noGrad, tidy } from '../src/autograd/index.ts';
import type { GpuContext } from '../src/gpu/device.ts';
import { encodePng, readImage } from '../src/io/image-decode.ts';
import { preprocessImage } from '../src/io/image.ts';
import { AttributionVisualizer, ImageFeature, normalizeTransform, zeroBaseline } from '../src/insights/visualizer.ts';
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
