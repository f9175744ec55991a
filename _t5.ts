import { readFileSync } from 'fs';
import { createNodeGpu } from './src/io/node-gpu.ts';
import { fromArray, tidy } from './src/autograd/index.ts';
import * as ops from './src/autograd/ops/index.ts';
import { LayerGradientXActivation, LayerActivation } from './src/attr/layer.ts';
import { resnet18Seed0, ref } from './test/refdata.ts';
import { relMaxError, relL2Error } from './test/helpers.ts';
const ctx = await createNodeGpu();
const m = (await resnet18Seed0(ctx)).net;
const inp = ref('resnet18_chelsea_224.safetensors', 'input');
const ab = readFileSync('/tmp/igcheck/alphas.bin'); const alphas = new Float64Array(ab.buffer.slice(ab.byteOffset, ab.byteOffset + ab.length));
const x = tidy(() => ops.scale(fromArray(ctx, inp.data, inp.shape), alphas[8]));
const rd = (f: string) => { const b = readFileSync(f); return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)); };
for (const nm of ['layer4.1', 'layer4.0', 'layer3.1', 'layer3.0', 'layer2.1', 'layer2.0', 'layer1.1', 'layer1.0', 'maxpool', 'bn1']) {
  const g = await (await new LayerGradientXActivation(m, nm, false).attribute(x, { target: 281 })).data();
  const a = await (await new LayerActivation(m, nm).attribute(x)).data();
  console.log(nm.padEnd(10), 'grad', relMaxError(g, rd(`/tmp/igcheck/lg_${nm}.bin`)).toExponential(2), relL2Error(g, rd(`/tmp/igcheck/lg_${nm}.bin`)).toExponential(2), ' act', relMaxError(a, rd(`/tmp/igcheck/la_${nm}.bin`)).toExponential(2));
}
ctx.destroy();
