import { createNodeGpu } from './src/io/node-gpu.ts';
import { fromArray } from './src/autograd/index.ts';
import * as A from './src/attr/index.ts';
import { resnet18Seed0, ref } from './test/refdata.ts';
import { relMaxError } from './test/helpers.ts';
const ctx = await createNodeGpu();
const m = (await resnet18Seed0(ctx)).net;
const f = 'resnet18_chelsea_224.safetensors';
const inp = ref(f, 'input');
const x = fromArray(ctx, inp.data, inp.shape);
let want: Float32Array | null = null;
for (const ibs of [1, 2, 4, 8]) {
  const got = await (await new A.IntegratedGradients(m).attribute(x, { target: 281, nSteps: 8, internalBatchSize: ibs })).data();
  want ??= got; console.log(ibs, relMaxError(got, want));
}
ctx.destroy();
