// The depthwise kernel (kernels/depthwise.wgsl) on MobileNetV2's depthwise layers at 224x224,
// in GB/s (input and output values once each, what a depthwise layer must move), beside the adapter's
// copy bandwidth measured on the same bytes: a buffer-to-buffer copy (copyGbs; a memcpy on a CPU
// adapter) and a shader that loads and stores each value once (shaderCopyGbs: kernels/elementwise.wgsl's
// vec4 affine map), the most a kernel can move. Depthwise layers are memory-bound.
import type { GpuContext } from '../src/gpu/device.ts';
import { affine, fill, groupedConv2d, grad, tidy } from '../src/autograd/index.ts';
import { timeMs } from './util.ts';

/** MobileNetV2's depthwise 3x3 layers at 224x224: channels, input size, stride. */
export const MOBILENET_V2_DEPTHWISE: [number, number, number][] = [
  [32, 112, 1], [96, 112, 2], [144, 56, 1], [144, 56, 2], [192, 28, 1], [192, 28, 2], [384, 14, 1], [576, 14, 1], [576, 14, 2], [960, 7, 1],
];

export interface DepthwiseRow { kernel: string; shape: string; ms: number; gbs: number; copyGbs: number; shaderCopyGbs: number }

export async function depthwiseRows(ctx: GpuContext, N: number, log: (r: DepthwiseRow) => void = () => {}): Promise<DepthwiseRow[]> {
  const rows: DepthwiseRow[] = [];
  for (const [C, H, S] of MOBILENET_V2_DEPTHWISE) {
    await tidy(async () => {
      const x = fill(ctx, [N, C, H, H], 0.5), w = fill(ctx, [C, 1, 3, 3], 0.1);
      const OH = Math.floor((H + 2 - 3) / S) + 1;
      const bytes = 4 * N * C * (H * H + OH * OH);
      const src = fill(ctx, [bytes / 4], 1), dst = fill(ctx, [bytes / 4], 0);
      const copyMs = await timeMs(ctx, () => ctx.copy(src.buffer, 0, dst.buffer, 0, bytes));
      const half = fill(ctx, [bytes / 8], 1); // read once and written once: the same bytes moved
      const shaderCopyGbs = bytes / (await timeMs(ctx, () => { affine(half, 1, 0).release(); })) / 1e6;
      const shape = `N${N} C${C} ${H}x${H} s${S}`;
      const fwd = await timeMs(ctx, () => { groupedConv2d(x, w, null, { stride: [S, S], pads: [1, 1, 1, 1], groups: C }).release(); });
      const row = { kernel: 'depthwise_forward', shape, ms: fwd, gbs: bytes / fwd / 1e6, copyGbs: bytes / copyMs / 1e6, shaderCopyGbs };
      rows.push(row);
      log(row);
      x.requiresGrad = true;
      const y = groupedConv2d(x, w, null, { stride: [S, S], pads: [1, 1, 1, 1], groups: C });
      const g = fill(ctx, y.shape, 1);
      const gin = await timeMs(ctx, () => { grad(y, [x], g)[0].release(); });
      const row2 = { kernel: 'depthwise_grad_input', shape, ms: gin, gbs: bytes / gin / 1e6, copyGbs: row.copyGbs, shaderCopyGbs };
      rows.push(row2);
      log(row2);
    });
  }
  return rows;
}
