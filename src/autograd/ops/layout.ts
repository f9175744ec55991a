import { record } from '../grad.ts';
import { Tensor } from '../tensor.ts';
import { grid, launch } from './launch.ts';
import { fill } from './elementwise.ts';

/** kernels/layout.wgsl for a view of RANK merged dimensions (1 to 6): it splits an index into that many only. */
const layoutKernel = (scatter: boolean, RANK: number) =>
  ({ name: scatter ? 'strided_scatter' : 'strided_gather', file: 'layout', inputs: 1, outputs: 1, defines: { SCATTER: scatter, RANK } }) as const;

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/**
 * Reorders dimensions, as torch.permute followed by contiguous(). `padTo4` lists output
 * dimensions to zero-pad to a multiple of 4 (for kernels that load vec4s); that form takes no gradient.
 */
export function permuteRaw(x: Tensor, perm: number[], padTo4: number[] = []): Tensor {
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((d, i) => d !== i)) {
    throw new Error(`permute: [${perm.join(', ')}] is not a permutation of the ${x.rank} dimensions of [${x.shape.join(', ')}]`);
  }
  const inStrides = stridesOf(x.shape);
  return stridedGather(x, perm.map((d) => x.shape[d]), perm.map((d) => inStrides[d]), 1, padTo4);
}

/**
 * Drops dimensions of extent 1 and merges neighbours that one stride walks (dims i and i + 1 with
 * strides[i] = strides[i + 1] * shape[i + 1]), so views of higher rank fit the kernel's six.
 * Padded dimensions are kept as they are.
 */
function mergeDims(shape: readonly number[], strides: readonly number[], padTo4: number[]): { shape: number[]; strides: number[]; pad: number[] } {
  const out: { d: number; s: number; pad: boolean }[] = [];
  shape.forEach((d, i) => {
    const pad = padTo4.includes(i);
    if (d === 1 && !pad) return;
    const last = out[out.length - 1];
    if (last && !pad && !last.pad && last.s === strides[i] * d) { last.d *= d; last.s = strides[i]; return; }
    out.push({ d, s: strides[i], pad });
  });
  return { shape: out.map((o) => o.d), strides: out.map((o) => o.s), pad: out.flatMap((o, i) => (o.pad ? [i] : [])) };
}

/** The kernel's six dimensions for a view (leading 1s), or a clear error past six. */
function sixDims(what: string, shape: readonly number[], strides: readonly number[], padTo4: number[]) {
  const m = mergeDims(shape, strides, padTo4);
  if (m.shape.length > 6) throw new Error(`${what}: [${shape.join(', ')}] with strides [${strides.join(', ')}] needs ${m.shape.length} dimensions (at most 6)`);
  const extents = [...m.shape], dims = m.shape.map((d, i) => (m.pad.includes(i) ? Math.ceil(d / 4) * 4 : d)), st = [...m.strides];
  while (dims.length < 6) {
    dims.unshift(1);
    extents.unshift(1);
    st.unshift(0);
  }
  return { dims, extents, st, n: dims.reduce((a, b) => a * b, 1), rank: Math.max(1, m.shape.length) };
}

/**
 * out[idx] = alpha * x[offset + sum of idx[i] * strides[i]], for outputs of any rank whose merged
 * dimensions number at most 6; dimensions in `padTo4` are zero-padded to a multiple of 4.
 */
export function stridedGather(x: Tensor, shape: readonly number[], strides: readonly number[], alpha = 1, padTo4: number[] = [], offset = 0): Tensor {
  const outShape = shape.map((d, i) => (padTo4.includes(i) ? Math.ceil(d / 4) * 4 : d));
  const f = sixDims('strided gather', shape, strides, padTo4);
  return launch(layoutKernel(false, f.rank), [x], outShape, { ints: [...f.dims, ...f.st, ...f.extents, offset], floats: [alpha], workgroups: grid(x.ctx, f.n) });
}

/** The inverse of an injective stridedGather: a tensor of `fullShape`, zero except where `part` lands. */
function stridedScatter(part: Tensor, fullShape: readonly number[], strides: readonly number[], offset: number): Tensor {
  const out = fill(part.ctx, fullShape, 0);
  const f = sixDims('strided scatter', part.shape, strides, []);
  if (f.n) part.ctx.dispatch(layoutKernel(true, f.rank), { inputs: [part.buffer], outputs: [out.buffer], ints: [...f.dims, ...f.st, ...f.extents, offset], floats: [1], workgroups: grid(part.ctx, f.n) });
  return out;
}

/**
 * x[starts[0] :: steps[0], starts[1] :: steps[1], ...] with `shape` elements along each dimension
 * (steps may be negative; starts and shape already clamped by the caller), as a new tensor.
 */
export function slice(x: Tensor, starts: readonly number[], steps: readonly number[], shape: readonly number[]): Tensor {
  if (starts.length !== x.rank || steps.length !== x.rank || shape.length !== x.rank) throw new Error(`slice: ${x.rank} starts, steps and sizes needed for [${x.shape.join(', ')}]`);
  shape.forEach((n, d) => {
    const last = starts[d] + (n - 1) * steps[d];
    if (n > 0 && (starts[d] < 0 || starts[d] >= x.shape[d] || last < 0 || last >= x.shape[d] || steps[d] === 0)) {
      throw new Error(`slice: dimension ${d} of [${x.shape.join(', ')}] has no elements ${starts[d]}, ${starts[d] + steps[d]}, ... (${n} of them)`);
    }
  });
  const full = stridesOf(x.shape), strides = full.map((s, d) => s * steps[d]);
  const offset = starts.reduce((a, s, d) => a + s * full[d], 0);
  const y = shape.some((n) => n === 0) ? new Tensor(x.ctx, shape) : stridedGather(x, shape, strides, 1, [], offset);
  return record(y, 'slice', [x], (g) => [stridedScatter(g, x.shape, strides, offset)]);
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
