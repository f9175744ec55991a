import type { Tensor } from '../tensor.ts';
import { reshape } from './layout.ts';
import { expand } from './reduce.ts';
import { add, div, mul, sub } from './elementwise.ts';

/** NumPy's broadcast of two shapes (aligned at the right), or an error naming both. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const x = a[a.length - rank + i] ?? 1, y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast`);
    return Math.max(x, y);
  });
}

/** x viewed at `shape`'s rank (leading 1s) and expanded to it (NumPy's broadcast to `shape`), with its gradient. */
export function expandTo(x: Tensor, shape: number[]): Tensor {
  const v = x.rank === shape.length ? x : reshape(x, [...new Array(shape.length - x.rank).fill(1), ...x.shape]);
  return expand(v, shape);
}

const OPS = { add, sub, mul, div };

/** An elementwise binary op with NumPy broadcasting (squeeze-excite's [N, C, 1, 1] * [N, C, H, W]); gradients sum over the broadcast dimensions. */
export function broadcastBinary(op: keyof typeof OPS, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(a.shape, b.shape);
  return OPS[op](expandTo(a, shape), expandTo(b, shape));
}
