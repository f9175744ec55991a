// npm run bench:kernels: the convolution kernels on every conv shape of ResNet-18 at 224x224, at
// batch 1 and 16 (forward, gradient to the input, gradient to the weight), a 1024^3 matmul, and the
// adapter's multiply-add ceiling (bench/ceiling.ts), and the depthwise kernel on MobileNetV2's layers
// in GB/s beside the copy bandwidth (bench/depthwise.ts).
// Prints a table and writes bench/results/kernels.json.
import { createNodeGpu } from '../src/io/node-gpu.ts';
import { fill, matmul, tidy } from '../src/autograd/index.ts';
import { CONV_KERNELS, type ConvRow, convRows } from './conv-cases.ts';
import { table, timeMs, writeResult } from './util.ts';
import { multiplyAddCeiling } from './ceiling.ts';
import { depthwiseRows } from './depthwise.ts';

const ctx = await createNodeGpu();
const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const batches = only.length ? only.map(Number) : [1, 16];
const rows: (Omit<ConvRow, 'kernel'> & { kernel: string })[] = [];
console.log(`adapter: ${ctx.adapterDescription}`);
for (const N of batches) {
  rows.push(...await convRows(ctx, N, N === 1 ? 5 : 3, (r) =>
    console.log(`${r.kernel.padEnd(20)} ${r.shape.padEnd(32)} ${r.ms.toFixed(2).padStart(9)} ms ${r.gflops.toFixed(1).padStart(7)} GFLOP/s`)));
}
await tidy(async () => {
  const n = 1024, a = fill(ctx, [n, n], 0.5), b = fill(ctx, [n, n], 0.25);
  const ms = await timeMs(ctx, () => { matmul(a, b).release(); });
  rows.push({ kernel: 'matmul', shape: `${n}x${n}x${n}`, ms, gflops: (2 * n ** 3) / ms / 1e6 });
});
for (const r of await depthwiseRows(ctx, 16, (r) => console.log(`${r.kernel.padEnd(20)} ${r.shape.padEnd(32)} ${r.ms.toFixed(2).padStart(9)} ms ${r.gbs.toFixed(2).padStart(7)} GB/s (copy ${r.copyGbs.toFixed(2)}, shader copy ${r.shaderCopyGbs.toFixed(2)} GB/s)`))) {
  rows.push({ kernel: r.kernel, shape: r.shape, ms: r.ms, gflops: NaN, gbs: r.gbs, copyGbs: r.copyGbs, shaderCopyGbs: r.shaderCopyGbs } as (typeof rows)[number]);
}
const ceiling = await multiplyAddCeiling(ctx);
rows.push({ kernel: 'multiply_add_ceiling', shape: 'kernels/peak.wgsl', ms: ceiling.ms, gflops: ceiling.gflops });
console.log();
console.log(table(rows.map((r) => ({ ...r, ms: Number(r.ms.toFixed(3)), gflops: Number(r.gflops.toFixed(2)) }))));
for (const kernel of CONV_KERNELS) {
  for (const N of batches) {
    const rs = rows.filter((r) => r.kernel === kernel && r.shape.startsWith(`N${N} `));
    console.log(`mean ${kernel} batch ${N}: ${(rs.reduce((s, r) => s + r.gflops, 0) / rs.length).toFixed(1)} GFLOP/s`);
  }
}
console.log(`wrote ${writeResult('kernels.json', { adapter: ctx.adapterDescription, date: new Date().toISOString(), results: rows })}`);
ctx.destroy();
