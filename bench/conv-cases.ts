// The convolution kernels on every conv shape of ResNet-18 at 224x224 (forward, gradient to the
// input, gradient to the weight): shared by bench:kernels (per shape) and bench (the means).
import { Tensor } from '../src/autograd/tensor.ts';
import { type ConvGeometry, conv2dForwardRaw, conv2dGradInput, conv2dGradWeight, convGeometry, fill, tidy } from '../src/autograd/index.ts';
import type { GpuContext } from '../src/gpu/device.ts';
import { timeMs } from './util.ts';

/** [C, H, K, kernel, stride, padding] of ResNet-18's convolutions (duplicates removed). */
export const RESNET18_CONV_SHAPES: [number, number, number, number, number, number][] = [
  [3, 224, 64, 7, 2, 3], [64, 56, 64, 3, 1, 1], [64, 56, 128, 3, 2, 1], [128, 28, 128, 3, 1, 1], [64, 56, 128, 1, 2, 0],
  [128, 28, 256, 3, 2, 1], [256, 14, 256, 3, 1, 1], [128, 28, 256, 1, 2, 0], [256, 14, 512, 3, 2, 1], [512, 7, 512, 3, 1, 1], [256, 14, 512, 1, 2, 0],
];

/** Those shapes' geometries at batch N. */
export const resnet18ConvGeometries = (N: number): ConvGeometry[] =>
  RESNET18_CONV_SHAPES.map(([C, H, K, k, s, p]) => convGeometry([N, C, H, H], [K, C, k, k], { stride: s, padding: p }));

export const CONV_KERNELS = ['conv2d_forward', 'conv2d_grad_input', 'conv2d_grad_weight'] as const;
export type ConvKernel = (typeof CONV_KERNELS)[number];

export interface ConvRow {
  kernel: ConvKernel;
  shape: string;
  ms: number;
  gflops: number;
}

/** Times each kernel on each shape at batch N (median of `reps` after a warm-up). */
export async function convRows(ctx: GpuContext, N: number, reps: number, onRow: (r: ConvRow) => void = () => {}): Promise<ConvRow[]> {
  const rows: ConvRow[] = [];
  for (const g of resnet18ConvGeometries(N)) {
    await tidy(async () => {
      const { C, H, K, KH: k, SH: s } = g;
      const flops = 2 * N * K * g.OH * g.OW * C * k * k;
      const x = fill(ctx, [N, C, H, H], 0.5), w = fill(ctx, [K, C, k, k], 0.01), gy = fill(ctx, [N, K, g.OH, g.OW], 0.1);
      const shape = `N${N} C${C} ${H}x${H} K${K} ${k}x${k} s${s}`;
      const kinds: [ConvKernel, () => Tensor][] = [
        ['conv2d_forward', () => conv2dForwardRaw(x, w, null, g)],
        ['conv2d_grad_input', () => conv2dGradInput(gy, w, g)],
        ['conv2d_grad_weight', () => conv2dGradWeight(gy, x, g)],
      ];
      for (const [kernel, f] of kinds) {
        const ms = await timeMs(ctx, () => { f().release(); }, reps);
        const row = { kernel, shape, ms, gflops: flops / ms / 1e6 };
        rows.push(row);
        onRow(row);
      }
    });
  }
  return rows;
}
