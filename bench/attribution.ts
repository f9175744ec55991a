// npm run bench:attribution [resnet18] [resnet50] [--quick | --occlusion-on resnet18]: IG (50 steps), Occlusion (3x15x15 / 3x8x8),
// Grad-CAM and Saliency at 224x224, each with its error against ../shared/ref and the time of the
// same Captum call on this kind of machine (../shared/ref/timings.json, measured apart: compare ratios
// only with care on a shared machine). Also IG with its steps run one at a time, to show what
// batching buys. Writes bench/results/attribution.json.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNodeGpu } from '../src/io/node-gpu.ts';
import { type Tensor, fromArray, tidy } from '../src/autograd/index.ts';
import * as A from '../src/attr/index.ts';
import { loadClassifier } from '../src/io/models.ts';
import { relL2Error, relMaxError } from '../test/helpers.ts';
import { REF_DIR, ref, resnet18Seed0 } from '../test/refdata.ts';
import { table, writeResult } from './util.ts';

const timings = JSON.parse(readFileSync(join(REF_DIR, 'timings.json'), 'utf8')).seconds as Record<string, number>;
const args = process.argv.slice(2);
const models_ = args.filter((a, i) => a.startsWith('resnet') && args[i - 1] !== '--occlusion-on');
const want = (m: string) => !models_.length || models_.includes(m);
const ctx = await createNodeGpu();
console.log(`adapter: ${ctx.adapterDescription}`);
const rows: Record<string, string | number>[] = [];

async function run(caseName: string, file: string, key: string | null, refKey: string, fn: () => Promise<Tensor | [Tensor, Tensor]>): Promise<void> {
  await tidy(async () => {
    const t0 = performance.now();
    const r = await fn();
    const attr = Array.isArray(r) ? r[0] : r;
    const data = await attr.data();
    const ms = performance.now() - t0;
    const refMs = (timings[refKey] ?? NaN) * 1000;
    const row: Record<string, string | number> = { case: caseName, engine_ms: Math.round(ms), reference_ms: Math.round(refMs), ratio: Number((ms / refMs).toFixed(2)) };
    if (key) {
      const w = ref(file, key).data;
      row.rel_max = relMaxError(data, w).toExponential(2);
      row.rel_l2 = relL2Error(data, w).toExponential(2);
    }
    rows.push(row);
    console.log(JSON.stringify(row));
  });
}

const models: [string, string, string, number][] = [['resnet18', 'resnet18_chelsea_224.safetensors', 'r18_224', 281], ['resnet50', 'resnet50_keras_chelsea_224.safetensors', 'r50_224', 285]];
for (const [name, file, prefix, target] of models) {
  if (!want(name)) continue;
  const net = name === 'resnet18' ? (await resnet18Seed0(ctx)).net : (await loadClassifier(ctx, { model: 'resnet50' })).net;
  const input = ref(file, 'input');
  const x = fromArray(ctx, input.data, input.shape);
  const camLayer = name === 'resnet18' ? 'layer3.1.conv2' : 'layer4.2.conv3';
  await run(`${name} Grad-CAM ${camLayer}`, file, name === 'resnet18' ? 'gradcam_layer3.1.conv2' : 'gradcam_layer4.2.conv3', `${prefix}.gradcam`, () => new A.LayerGradCam(net, camLayer).attribute(x, { target }));
  if (name === 'resnet18') await run(`${name} Saliency`, file, 'saliency', `${prefix}.saliency`, () => new A.Saliency(net).attribute(x, { target }));
  await run(`${name} IG 50 steps (batched)`, file, 'ig_gl50', `${prefix}.ig_gl50`, () => new A.IntegratedGradients(net).attribute(x, { target, nSteps: 50 }));
  if (name === 'resnet18') await run(`${name} IG 50 steps, one per pass`, file, 'ig_gl50', `${prefix}.ig_gl50`, () => new A.IntegratedGradients(net).attribute(x, { target, nSteps: 50, internalBatchSize: 1 }));
  const only = args.indexOf('--occlusion-on');
  if (!args.includes('--quick') && (only < 0 || args[only + 1] === name)) {
    await run(`${name} Occlusion 3x15x15 / 3x8x8`, file, 'occlusion_w15_s8', `${prefix}.occlusion_w15_s8`, () => new A.Occlusion(net).attribute(x, { target, slidingWindowShapes: [3, 15, 15], strides: [3, 8, 8], baselines: 0 }));
  }
  x.release();
}
console.log(table(rows));
console.log(`wrote ${writeResult('attribution.json', { adapter: ctx.adapterDescription, date: new Date().toISOString(), results: rows })}`);
ctx.destroy();
