// Runs the ONNX files of scripts/torchvision/export.py through Glimpse: logits, the input gradient
// (Saliency without abs) against PyTorch's float32 and float64, and a batch of 2 against batch 1.
// `node --import tsx scripts/torchvision/check.ts OUT [name_opN,...]` prints a Markdown table.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromArray, noGrad, tidy } from '../../src/autograd/index.ts';
import * as A from '../../src/attr/index.ts';
import { loadOnnx } from '../../src/nn/graph.ts';
import { createNodeGpu } from '../../src/io/node-gpu.ts';

const [dir, only] = process.argv.slice(2);
if (!dir) throw new Error('usage: check.ts OUT [name_opN,...] (OUT as given to export.py)');
const index: Record<string, { model: string; opset: number; size?: number; target?: number; error?: string }> = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
const floats = (key: string, part: string) => {
  const b = readFileSync(join(dir, `${key}.${part}.bin`));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
};
/** Relative L2 error of a against b. */
const rel = (a: Float32Array, b: Float32Array) => {
  let e = 0, n = 0;
  for (let i = 0; i < b.length; i++) { e += (a[i] - b[i]) ** 2; n += b[i] ** 2; }
  return Math.sqrt(e / n).toExponential(1);
};
const ctx = await createNodeGpu();
console.log('| model | opset | input | logits | input gradient vs float32 | vs float64 (PyTorch float32 vs float64) | batch 2 | seconds |\n| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const [key, c] of Object.entries(index)) {
  if (only && !only.split(',').includes(key)) continue;
  if (c.error) { console.log(`| ${c.model} | ${c.opset} | | PyTorch cannot export it: ${c.error} | | | | |`); continue; }
  const t0 = performance.now();
  try {
    const m = loadOnnx(ctx, new Uint8Array(readFileSync(join(dir, `${key}.onnx`))), { what: `${key}.onnx` });
    await tidy(async () => {
      const S = c.size!, x1 = floats(key, 'input');
      const x = fromArray(ctx, x1, [1, 3, S, S]);
      const y = await noGrad(() => m.call(x)).data();
      const g = await (await new A.Saliency(m).attribute(x, { target: c.target, abs: false })).data();
      const pair = new Float32Array(2 * x1.length);
      pair.set(x1);
      pair.set(x1, x1.length);
      const y2 = await noGrad(() => m.call(fromArray(ctx, pair, [2, 3, S, S]))).data();
      const g32 = floats(key, 'grad'), g64 = floats(key, 'grad64');
      console.log(`| ${c.model} | ${c.opset} | ${S} | ${rel(y, floats(key, 'logits'))} | ${rel(g, g32)} | ${rel(g, g64)} (${rel(g32, g64)}) | ${rel(y2.subarray(y.length), y)} | ${((performance.now() - t0) / 1000).toFixed(1)} |`);
    });
    m.release();
  } catch (e) {
    console.log(`| ${c.model} | ${c.opset} | ${c.size} | error: ${(e as Error).message.split('\n')[0].slice(0, 200)} | | | | |`);
  }
}
ctx.destroy();
