// npm run bench:kernels: the convolution kernels on every conv shape of ResNet-18 at 224x224, at
// batch 1 and 16 (forward, gradient to the input, gradient to the weight), and a 1024^3 matmul.
// Prints a table and writes bench/results/kernels.json.
import { createNodeGpu } from '../src/io/node-gpu.ts';
import { Tensor } from '../src/autograd/tensor.ts';
import { conv2dForwardRaw, conv2dGradInput, conv2dGradWeight, convGeometry, fill, matmul, tidy } from '../src/autograd/index.ts';
import { table, timeMs, writeResult } from './util.ts';

// [C, H, K, kernel, stride, padding] of ResNet-18's convolutions (duplicates removed).
const SHAPES: [number, number, number, number, number, number][] = [
  [3, 224, 64, 7, 2, 3], [64, 56, 64, 3, 1, 1], [64, 56, 128, 3, 2, 1], [128, 28, 128, 3, 1, 1], [64, 56, 128, 1, 2, 0],
  [128, 28, 256, 3, 2, 1], [256, 14, 256, 3, 1, 1], [128, 28, 256, 1, 2, 0], [256, 14, 512, 3, 2, 1], [512, 7, 512, 3, 1, 1], [256, 14, 512, 1, 2, 0],
];

const ctx = await createNodeGpu();
const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const batches = only.length ? only.map(Number) : [1, 16];
const rows: { kernel: string; shape: string; ms: number; gflops: number }[] = [];
console.log(`adapter: ${ctx.adapterDescription}`);
for (const N of batches) {
  for (const [C, H, K, k, s, p] of SHAPES) {
    await tidy(async () => {
      const g = convGeometry([N, C, H, H], [K, C, k, k], { stride: s, padding: p });
      const flops = 2 * N * K * g.OH * g.OW * C * k * k;
      const x = fill(ctx, [N, C, H, H], 0.5), w = fill(ctx, [K, C, k, k], 0.01), gy = fill(ctx, [N, K, g.OH, g.OW], 0.1);
      const shape = `N${N} C${C} ${H}x${H} K${K} ${k}x${k} s${s}`;
      const kinds: [string, () => Tensor][] = [
        ['conv2d_forward', () => conv2dForwardRaw(x, w, null, g)],
        ['conv2d_grad_input', () => conv2dGradInput(gy, w, g)],
        ['conv2d_grad_weight', () => conv2dGradWeight(gy, x, g)],
      ];
      for (const [kernel, f] of kinds) {
        const ms = await timeMs(ctx, () => { f().release(); }, N === 1 ? 5 : 3);
        rows.push({ kernel, shape, ms, gflops: flops / ms / 1e6 });
        console.log(`${kernel.padEnd(20)} ${shape.padEnd(32)} ${ms.toFixed(2).padStart(9)} ms ${(flops / ms / 1e6).toFixed(1).padStart(7)} GFLOP/s`);
      }
    });
  }
}
await tidy(async () => {
  const n = 1024, a = fill(ctx, [n, n], 0.5), b = fill(ctx, [n, n], 0.25);
  const ms = await timeMs(ctx, () => { matmul(a, b).release(); });
  rows.push({ kernel: 'matmul', shape: `${n}x${n}x${n}`, ms, gflops: (2 * n ** 3) / ms / 1e6 });
});
console.log();
console.log(table(rows.map((r) => ({ ...r, ms: Number(r.ms.toFixed(3)), gflops: Number(r.gflops.toFixed(2)) }))));
for (const kernel of ['conv2d_forward', 'conv2d_grad_input', 'conv2d_grad_weight']) {
  for (const N of batches) {
    const rs = rows.filter((r) => r.kernel === kernel && r.shape.startsWith(`N${N} `));
    console.log(`mean ${kernel} batch ${N}: ${(rs.reduce((s, r) => s + r.gflops, 0) / rs.length).toFixed(1)} GFLOP/s`);
  }
}
console.log(`wrote ${writeResult('kernels.json', { adapter: ctx.adapterDescription, date: new Date().toISOString(), results: rows })}`);
ctx.destroy();
