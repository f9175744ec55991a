import { record } from '../grad.ts';
import { Tensor } from '../tensor.ts';
import { type Pair } from './conv.ts';
import { grid, planeGrid } from './launch.ts';
import { mean } from './reduce.ts';
import { fill } from './elementwise.ts';

const pair = (v: Pair | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

export interface MaxPoolOptions {
  kernelSize: Pair;
  stride?: Pair; // defaults to kernelSize, as PyTorch
  padding?: Pair;
  dilation?: Pair;
  /** Output size rounded up (ONNX ceil_mode, torch's ceil_mode=True); the last window still starts inside the input or its left padding. */
  ceilMode?: boolean;
  /** ONNX's pads [top, left, bottom, right] in place of `padding`, for windows padded unevenly (auto_pad SAME_UPPER, converted models). */
  pads?: [number, number, number, number];
}

/**
 * A pooling window's output count along one axis (size n, pads lead and trail, dilation d, kernel k,
 * stride s), as PyTorch's: rounded up with ceil_mode, the last window still starting inside the input
 * or its leading pad.
 */
export function poolOutputSize(n: number, lead: number, trail: number, d: number, k: number, s: number, ceilMode = false): number {
  const span = n + lead + trail - d * (k - 1) - 1;
  let o = (ceilMode ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceilMode && (o - 1) * s >= n + lead) o--;
  return o;
}

/** torch.nn.functional.max_pool2d; the gradient goes to the first maximum of each window. */
export function maxPool2d(x: Tensor, opts: MaxPoolOptions): Tensor {
  if (x.rank !== 4) throw new Error(`maxPool2d: input must be [N, C, H, W], got [${x.shape.join(', ')}]`);
  const [N, C, H, W] = x.shape;
  const [KH, KW] = pair(opts.kernelSize, 1), [SH, SW] = pair(opts.stride ?? opts.kernelSize, 1);
  const [PH, PW] = pair(opts.padding, 0), [DH, DW] = pair(opts.dilation, 1);
  const [PT, PL, PB, PR] = opts.pads ?? [PH, PW, PH, PW];
  // A window wholly in the padding would have no maximum to send its gradient to.
  if (Math.max(PT, PB) > KH / 2 || Math.max(PL, PR) > KW / 2) throw new Error(`maxPool2d: padding ${[PT, PL, PB, PR].join(',')} must be at most half the kernel ${KH}x${KW} (as in PyTorch)`);
  const OH = poolOutputSize(H, PT, PB, DH, KH, SH, opts.ceilMode), OW = poolOutputSize(W, PL, PR, DW, KW, SW, opts.ceilMode);
  if (OH <= 0 || OW <= 0) throw new Error(`maxPool2d: input ${H}x${W} is too small for the window`);
  const ints = [N * C, H, W, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW];
  const y = new Tensor(x.ctx, [N, C, OH, OW]);
  const argmax = new Tensor(x.ctx, [N, C, OH, OW]); // int32 bits
  x.ctx.dispatch({ name: 'max_pool2d', file: 'pool', inputs: 1, outputs: 2, defines: { FORWARD: true } },
    { inputs: [x.buffer], outputs: [y.buffer, argmax.buffer], ints: [...ints, 1, 1, 0, 0], workgroups: grid(x.ctx, y.size) });
  if (!record(y, 'max_pool2d', [x], (g) => {
    const gx = fill(x.ctx, x.shape, 0);
    // Outputs this many rows (columns) apart have disjoint windows: one pass each (kernels/pool.wgsl).
    const GH = Math.ceil(((KH - 1) * DH + 1) / SH), GW = Math.ceil(((KW - 1) * DW + 1) / SW);
    for (let gh = 0; gh < Math.min(GH, OH); gh++) {
      for (let gw = 0; gw < Math.min(GW, OW); gw++) {
        x.ctx.dispatch({ name: 'max_pool2d_backward', file: 'pool', inputs: 2, outputs: 1, defines: { FORWARD: false } },
          { inputs: [g.buffer, argmax.buffer], outputs: [gx.buffer], ints: [...ints, GH, GW, gh, gw], workgroups: planeGrid(x.ctx, Math.ceil((OW - gw) / GW), Math.ceil((OH - gh) / GH), N * C) });
      }
    }
    return [gx];
  }).node) argmax.release();
  return y;
}

/** torch.nn.functional.adaptive_avg_pool2d(x, 1): the mean over each plane, keeping [N, C, 1, 1]. */
export function adaptiveAvgPool2d1(x: Tensor): Tensor {
  if (x.rank !== 4) throw new Error(`adaptiveAvgPool2d: input must be [N, C, H, W], got [${x.shape.join(', ')}]`);
  return mean(x, [2, 3], true);
}
