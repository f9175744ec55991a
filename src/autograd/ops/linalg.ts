import type { GpuContext } from '../../gpu/device.ts';
import { record } from '../grad.ts';
import { Tensor, keep } from '../tensor.ts';
import { conv2dForwardRaw, convGeometry, convTile } from './conv.ts';
import { sumAxisRaw } from './reduce.ts';

interface Strided {
  t: Tensor;
  batch: number; // stride between matrices (0: the same matrix for every batch)
  row: number;
  col: number;
}
const rowMajor = (t: Tensor, rows: number, cols: number, batched: boolean): Strided => ({ t, batch: batched ? rows * cols : 0, row: cols, col: 1 });
const transposed = (s: Strided): Strided => ({ ...s, row: s.col, col: s.row });

/** Register tile: on CPU adapters 8x8 (1024^3 on lavapipe: 8x4 9.6, 8x8 12.2, 12x8 12.9, 16x16 5.4 GFLOP/s; a's loads are scalar here). */
function matmulTile(ctx: GpuContext): { TM: number; TN: number; WG: number } {
  return ctx.cpuAdapter ? { TM: 8, TN: 8, WG: 8 } : convTile(ctx, 64);
}

/** c[b] = alpha * a[b] @ b[b] (+ bias), a: [M, K] and b: [K, N] as described by their strides. */
function matmulRaw(ctx: GpuContext, a: Strided, b: Strided, M: number, K: number, N: number, batches: number, bias: Tensor | null = null, alpha = 1): Tensor {
  const { TM, TN, WG } = matmulTile(ctx);
  const c = new Tensor(ctx, batches > 1 ? [batches, M, N] : [M, N]);
  const inputs = bias ? [a.t, b.t, bias] : [a.t, b.t];
  ctx.dispatch({ name: 'matmul', file: 'matmul', inputs: inputs.length, outputs: 1, defines: { TM, TN, WG, BIAS: !!bias } }, {
    inputs: inputs.map((t) => t.buffer), outputs: [c.buffer],
    ints: [M, N, K, a.batch, a.row, a.col, b.batch, b.row, b.col], floats: [alpha],
    workgroups: [Math.ceil(N / (WG * TN)), Math.ceil(M / TM), batches],
  });
  return c;
}

/** Matrix product of [M, K] and [K, N] (or batched [B, M, K] and [B, K, N]), as torch.matmul. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const batched = a.rank === 3;
  if (!((a.rank === 2 && b.rank === 2) || (a.rank === 3 && b.rank === 3 && a.shape[0] === b.shape[0]))) {
    throw new Error(`matmul: shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] are not [M, K] x [K, N] (or batched alike)`);
  }
  const B = batched ? a.shape[0] : 1;
  const [M, K] = a.shape.slice(-2), [K2, N] = b.shape.slice(-2);
  if (K !== K2) throw new Error(`matmul: inner dimensions differ: [${a.shape.join(', ')}] x [${b.shape.join(', ')}]`);
  const as = rowMajor(a, M, K, batched), bs = rowMajor(b, K, N, batched);
  const c = matmulRaw(a.ctx, as, bs, M, K, N, B);
  return record(c, 'matmul', [a, b], (g, needs) => {
    const gs = rowMajor(g, M, N, batched);
    return [
      needs[0] ? matmulRaw(a.ctx, gs, transposed(bs), M, N, K, B) : null, // g @ b^T
      needs[1] ? matmulRaw(a.ctx, transposed(as), gs, K, M, N, B) : null, // a^T @ g
    ];
  });
}

/** torch.nn.functional.linear: x [N, in] @ weight [out, in]^T + bias [out]. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  if (x.rank !== 2 || weight.rank !== 2 || x.shape[1] !== weight.shape[1]) {
    throw new Error(`linear: input [${x.shape.join(', ')}] does not match weight [${weight.shape.join(', ')}] (expects [N, ${weight.shape[1]}])`);
  }
  const [N, I] = x.shape, O = weight.shape[0];
  if (bias && bias.size !== O) throw new Error(`linear: bias must have ${O} elements`);
  const xs = rowMajor(x, N, I, false);
  const y = linearForward(x, weight, bias);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record(y, 'linear', inputs, (g, needs) => {
    const gs = rowMajor(g, N, O, false);
    return [
      needs[0] ? matmulRaw(x.ctx, gs, rowMajor(weight, O, I, false), N, O, I, 1) : null, // g @ W
      needs[1] ? matmulRaw(x.ctx, transposed(gs), xs, O, N, I, 1) : null, // g^T @ x
      needs[2] ? sumAxisRaw(g, 1, N, O, 1, [O]) : null,
    ];
  });
}

/**
 * linear's forward as a 1x1 convolution of x [N, in, 1, 1] (kernels/conv.wgsl): its weight rows come
 * four channels a vec4, shared by subgroups on CPU adapters, where matmul's loads each weight per lane;
 * the same sums in the same order, so the same bits (docs/performance.md). The 4-D view of a weight
 * that takes no gradient is kept on it, so the convolution's permuted copy of it is made once.
 */
function linearForward(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const [N, I] = x.shape, O = weight.shape[0];
  const cached = weight.requiresGrad ? undefined : weight.derived.get('conv 1x1');
  const w4 = cached && !cached.released ? cached : weight.view([O, I, 1, 1]);
  if (!weight.requiresGrad && w4 !== cached) weight.derived.set('conv 1x1', keep(w4));
  const x4 = x.view([N, I, 1, 1]);
  const y = conv2dForwardRaw(x4, w4, bias, convGeometry(x4.shape, w4.shape));
  // The views go now (their dispatch holds what it reads), so a call outside tidy leaves nothing behind.
  x4.release();
  if (weight.requiresGrad) w4.release();
  return y.reshapeInto([N, O]);
}
