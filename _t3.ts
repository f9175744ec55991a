import { readFileSync } from 'fs';
import { createNodeGpu } from './src/io/node-gpu.ts';
import { fromArray, tidy } from './src/autograd/index.ts';
import * as ops from './src/autograd/ops/index.ts';
import { gradientOfTargets } from './src/attr/common.ts';
import { resnet18Seed0, ref } from './test/refdata.ts';
import { relMaxError, relL2Error } from './test/helpers.ts';
const ctx = await createNodeGpu();
const m = (await resnet18Seed0(ctx)).net;
const inp = ref('resnet18_chelsea_224.safetensors', 'input');
const x = fromArray(ctx, inp.data, inp.shape);
const gb = readFileSync('/tmp/igcheck/grads.bin'); const G = new Float32Array(gb.buffer.slice(gb.byteOffset, gb.byteOffset + gb.length));
const ab = readFileSync('/tmp/igcheck/alphas.bin'); const alphas = new Float64Array(ab.buffer.slice(ab.byteOffset, ab.byteOffset + ab.length));
const n = inp.data.length;
for (let i = 0; i < 50; i += 1) {
  const got = await tidy(async () => gradientOfTargets((t) => m.call(t), ops.scale(x, alphas[i]), [281]).grads.data());
  const want = G.subarray(i * n, (i + 1) * n);
  console.log(i, alphas[i].toFixed(5), relMaxError(got, want).toExponential(2), relL2Error(got, want).toExponential(2));
}
ctx.destroy();
