import { record } from '../grad.ts';
import { Tensor } from '../tensor.ts';
import { grid, launch } from './launch.ts';

const GATHER = { name: 'strided_gather', file: 'layout', inputs: 1, outputs: 1 } as const;

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/**
 * Reorders dimensions (up to 4), as torch.permute followed by contiguous(). `padTo4` lists output
 * dimensions to zero-pad to a multiple of 4 (for kernels that load vec4s); that form takes no gradient.
 */
export function permuteRaw(x: Tensor, perm: number[], padTo4: number[] = []): Tensor {
  if (perm.length !== x.rank || x.rank > 4 || [...perm].sort().some((d, i) => d !== i)) {
    throw new Error(`permute: [${perm.join(', ')}] is not a permutation of the ${x.rank} dimensions of [${x.shape.join(', ')}]`);
  }
  const inStrides = stridesOf(x.shape);
  return stridedGather(x, perm.map((d) => x.shape[d]), perm.map((d) => inStrides[d]), 1, padTo4);
}

/** out[idx] = alpha * x[sum of idx[i] * strides[i]], for outputs of up to 4 dimensions; dimensions in `padTo4` are zero-padded. */
export function stridedGather(x: Tensor, shape: readonly number[], strides: readonly number[], alpha = 1, padTo4: number[] = []): Tensor {
  if (shape.length > 4) throw new Error(`strided gather: at most 4 dimensions, got [${shape.join(', ')}]`);
  const outShape = shape.map((d, i) => (padTo4.includes(i) ? Math.ceil(d / 4) * 4 : d));
  const extents = [...shape], dims = [...outShape], st = [...strides];
  while (dims.length < 4) {
    dims.unshift(1);
    extents.unshift(1);
    st.unshift(0);
  }
  const n = dims[0] * dims[1] * dims[2] * dims[3];
  return launch(GATHER, [x], outShape, { ints: [...dims, ...st, ...extents], floats: [alpha], workgroups: grid(x.ctx, n) });
}

export function permute(x: Tensor, perm: number[]): Tensor {
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return record(permuteRaw(x, perm), 'permute', [x], (g) => [permuteRaw(g, inverse)]);
}

/** Same data, another shape (no copy), as torch.reshape on a contiguous tensor. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const full = shape.map((d) => (d === -1 ? x.size / known : d));
  const y = x.view(full);
  return record(y, 'reshape', [x], (g) => [g.view(x.shape)]);
}

/** [N, ...] -> [N, rest] */
export function flatten(x: Tensor): Tensor {
  return reshape(x, [x.shape[0], -1]);
}
