// npm run bench:models: ResNet-18 and the pretrained ResNet-50 at 224x224, forward and
// forward + backward to the input, at batch 1 and 16. Prints a table, writes bench/results/models.json.
import { createNodeGpu } from '../src/io/node-gpu.ts';
import { fill, noGrad, tidy } from '../src/autograd/index.ts';
import { gradientOfTargets } from '../src/attr/common.ts';
import { loadClassifier } from '../src/io/models.ts';
import { resnet } from '../src/nn/resnet.ts';
import { readStateDict } from '../src/io/weights.ts';
import { join } from 'node:path';
import { table, timeMs, writeResult } from './util.ts';
import { REF_DIR } from '../test/refdata.ts';

// Multiply-adds of one 224x224 image, as commonly counted (torchvision / fvcore): x2 for FLOPs.
const GMACS: Record<string, number> = { resnet18: 1.82, resnet50: 4.11 };

const ctx = await createNodeGpu();
const args = process.argv.slice(2);
const batches = args.filter((a) => /^\d+$/.test(a)).map(Number);
const rows: Record<string, string | number>[] = [];
console.log(`adapter: ${ctx.adapterDescription}`);
const r18 = resnet('resnet18');
r18.loadStateDict(ctx, (await readStateDict(join(REF_DIR, 'resnet18_seed0.pth'))).tensors);
const models = [['resnet18', r18], ['resnet50', (await loadClassifier(ctx, { model: 'resnet50' })).net]] as const;
for (const [name, net] of models) {
  if (args.some((a) => a.startsWith('resnet')) && !args.includes(name)) continue;
  for (const N of batches.length ? batches : [1, 16]) {
    const x = fill(ctx, [N, 3, 224, 224], 0.1);
    const flops = 2 * GMACS[name] * 1e9 * N;
    const fwd = await timeMs(ctx, () => tidy(() => { noGrad(() => net.call(x)); }), N === 1 ? 3 : 1);
    const fb = await timeMs(ctx, () => tidy(() => { gradientOfTargets((t) => net.call(t), x, new Array(N).fill(1)); }), N === 1 ? 3 : 1);
    // A backward pass to the input costs about twice the forward (grad-input of every layer, no grad-weight).
    rows.push({ case: `${name} forward`, batch: N, ms: fwd, gflops: flops / fwd / 1e6 });
    rows.push({ case: `${name} forward+backward to input`, batch: N, ms: fb, gflops: (2 * flops) / fb / 1e6 });
    console.log(`${name} batch ${N}: forward ${fwd.toFixed(0)} ms, forward+backward ${fb.toFixed(0)} ms`);
    x.release();
  }
}
console.log(table(rows));
console.log(`wrote ${writeResult('models.json', { adapter: ctx.adapterDescription, date: new Date().toISOString(), results: rows })}`);
ctx.destroy();
