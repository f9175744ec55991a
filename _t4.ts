import { readFileSync, writeFileSync } from 'fs';
import { createNodeGpu } from './src/io/node-gpu.ts';
import { fromArray, tidy } from './src/autograd/index.ts';
import * as ops from './src/autograd/ops/index.ts';
import { gradientOfTargets } from './src/attr/common.ts';
import { resnet18Seed0, ref } from './test/refdata.ts';
const ctx = await createNodeGpu();
const m = (await resnet18Seed0(ctx)).net;
const inp = ref('resnet18_chelsea_224.safetensors', 'input');
const x = fromArray(ctx, inp.data, inp.shape);
const ab = readFileSync('/tmp/igcheck/alphas.bin'); const alphas = new Float64Array(ab.buffer.slice(ab.byteOffset, ab.byteOffset + ab.length));
for (const i of [8]) {
  const got = await tidy(async () => gradientOfTargets((t) => m.call(t), ops.scale(x, alphas[i]), [281]).grads.data());
  writeFileSync(`/tmp/igcheck/ours_${i}.bin`, got);
  // also the scaled input itself, as we computed it
  const xs = await tidy(async () => ops.scale(x, alphas[i]).data());
  writeFileSync(`/tmp/igcheck/xs_${i}.bin`, xs);
}
ctx.destroy();
