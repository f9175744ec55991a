/**
 * ONNX ops folded on the CPU: shape arithmetic (Shape, Gather, Concat, Slice ... on int64 shapes) and
 * constants, for a given input shape, before the GPU sees the graph.
 */
import { Tensor, sizeOf } from '../autograd/tensor.ts';
import type { OnnxArray, OnnxNode } from '../io/onnx.ts';
import { type HostOp, type Value, attr, int64, ints } from './onnx-values.ts';

/**
 * Per dimension, the first index, the step and the count a Slice takes (ONNX's clamping: starts and
 * ends to [0, n] going forward, to [-1, n - 1] going back; negative values count from the end).
 */
export function slicePlan(dims: readonly number[], starts: number[], ends: number[], axesIn: number[] | null, stepsIn: number[] | null): { start: number; step: number; count: number }[] {
  const axes = (axesIn ?? starts.map((_, i) => i)).map((a) => (a + dims.length) % dims.length);
  const steps = stepsIn ?? starts.map(() => 1);
  return dims.map((n, d) => {
    const k = axes.indexOf(d);
    if (k < 0) return { start: 0, step: 1, count: n };
    const step = steps[k];
    if (step === 0) throw new Error('Slice: a step of 0');
    const clamp = (v: number) => { const w = v < 0 ? v + n : v; return step > 0 ? Math.max(0, Math.min(n, w)) : Math.max(-1, Math.min(n - 1, w)); };
    const start = clamp(starts[k]), end = clamp(ends[k]);
    return { start, step, count: Math.max(0, Math.ceil((end - start) / step)) };
  });
}


/** NumPy broadcasting of host arrays: the output's dims, and for each output element the element index in each input. */
function broadcastIndices(arrays: OnnxArray[]): { dims: number[]; at: (k: number, i: number) => number; size: number } {
  const rank = Math.max(...arrays.map((a) => a.dims.length));
  const padded = arrays.map((a) => [...new Array(rank - a.dims.length).fill(1), ...a.dims]);
  const dims = Array.from({ length: rank }, (_, d) => Math.max(...padded.map((p) => p[d])));
  padded.forEach((p) => p.forEach((n, d) => { if (n !== 1 && n !== dims[d]) throw new Error(`shapes ${arrays.map((a) => `[${a.dims.join(', ')}]`).join(' and ')} do not broadcast`); }));
  const strides = padded.map((p) => p.map((n, d) => (n === 1 ? 0 : sizeOf(p.slice(d + 1)))));
  const outStrides = dims.map((_, d) => sizeOf(dims.slice(d + 1)));
  const at = (k: number, i: number) => {
    let src = 0;
    for (let d = 0; d < rank; d++) src += (Math.floor(i / outStrides[d]) % dims[d]) * strides[k][d];
    return src;
  };
  return { dims, at, size: sizeOf(dims) };
}

function hostBinary(f: (a: number, b: number) => number): HostOp {
  return ([a, b]) => {
    const { dims, at, size } = broadcastIndices([a!, b!]);
    const va = ints(a), vb = ints(b);
    const out = Array.from({ length: size }, (_, i) => f(va[at(0, i)], vb[at(1, i)]));
    if (a!.dtype === 'float32' || b!.dtype === 'float32') return [{ dtype: 'float32', dims, data: Float32Array.from(out) }];
    return [int64(out.map(Math.trunc), dims)];
  };
}

export const HOST_OPS: Record<string, HostOp> = {
  Identity: ([x]) => [x!],
  Dropout: ([x]) => [x!],
  Cast: ([x], node) => {
    const to = attr(node, 'to', 1);
    return [to === 1 || to === 10 || to === 11 ? { dtype: 'float32', dims: x!.dims, data: Float32Array.from(x!.data as ArrayLike<number | bigint>, Number) } : int64(ints(x), x!.dims)];
  },
  Unsqueeze: ([x, axesIn], node) => {
    const axes = axesIn ? ints(axesIn) : attr<number[]>(node, 'axes', []);
    const dims = [...x!.dims];
    const out = dims.length + axes.length;
    for (const a of axes.map((d) => (d + out) % out).sort((p, q) => p - q)) dims.splice(a, 0, 1);
    return [{ ...x!, dims } as OnnxArray];
  },
  Squeeze: ([x, axesIn], node) => {
    const axes = (axesIn ? ints(axesIn) : attr<number[]>(node, 'axes', [])).map((d) => (d + x!.dims.length) % x!.dims.length);
    return [{ ...x!, dims: x!.dims.filter((d, i) => (axes.length ? !axes.includes(i) : d !== 1)) } as OnnxArray];
  },
  Concat: (xs, node) => {
    const parts = xs.filter((x): x is OnnxArray => !!x).map((x) => (x.dims.length ? x : { ...x, dims: [x.data.length] }));
    const rank = parts[0].dims.length, axis = (attr(node, 'axis', 0) + rank) % rank;
    const outer = sizeOf(parts[0].dims.slice(0, axis)), out: (number | bigint)[] = [];
    for (let o = 0; o < outer; o++) {
      for (const p of parts) {
        const inner = sizeOf(p.dims.slice(axis));
        out.push(...Array.from(p.data as ArrayLike<number | bigint>).slice(o * inner, (o + 1) * inner));
      }
    }
    const dims = [...parts[0].dims];
    dims[axis] = parts.reduce((a, p) => a + p.dims[axis], 0);
    return [hostArray(parts.some((p) => p.dtype === 'float32') ? 'float32' : 'int64', dims, out)];
  },
  Gather: ([data, idx], node) => {
    const dims = data!.dims.length ? data!.dims : [data!.data.length];
    const axis = (attr(node, 'axis', 0) + dims.length) % dims.length, n = dims[axis];
    const at = ints(idx).map((k) => (k < 0 ? k + n : k));
    if (at.some((k) => k < 0 || k >= n)) throw new Error(`Gather node '${node.name}': indices [${ints(idx).join(', ')}] out of range for ${n}`);
    const picked = gatherNd(data!, dims.map((d, i) => (i === axis ? at : Array.from({ length: d }, (_, j) => j))));
    return [{ ...picked, dims: [...dims.slice(0, axis), ...idx!.dims, ...dims.slice(axis + 1)] } as OnnxArray];
  },
  Slice: ([data, starts, ends, axesIn, steps]) => {
    const dims = data!.dims.length ? data!.dims : [data!.data.length];
    const plan = slicePlan(dims, ints(starts), ints(ends), axesIn ? ints(axesIn) : null, steps ? ints(steps) : null);
    return [gatherNd(data!, plan.map((p) => Array.from({ length: p.count }, (_, i) => p.start + i * p.step)))];
  },
  Transpose: ([x], node) => {
    const dims = x!.dims, perm = attr<number[]>(node, 'perm', dims.map((_, i) => dims.length - 1 - i));
    const outDims = perm.map((p) => dims[p]), strides = dims.map((_, i) => sizeOf(dims.slice(i + 1)));
    const src = x!.data as ArrayLike<number | bigint>, out: (number | bigint)[] = [];
    const idx = new Array(outDims.length).fill(0);
    for (let n = 0; n < sizeOf(outDims); n++) {
      out.push(src[idx.reduce((a, v, i) => a + v * strides[perm[i]], 0)]);
      for (let i = outDims.length - 1; i >= 0 && ++idx[i] === outDims[i]; i--) idx[i] = 0;
    }
    return [hostArray(x!.dtype, outDims, out)];
  },
  Add: hostBinary((a, b) => a + b),
  Sub: hostBinary((a, b) => a - b),
  Mul: hostBinary((a, b) => a * b),
  Div: hostBinary((a, b) => a / b),
  Reshape: ([x, shape]) => {
    const t = ints(shape), known = sizeOf(t.filter((d) => d !== -1));
    return [{ ...x!, dims: t.map((d, i) => (d === -1 ? x!.data.length / known : d === 0 ? x!.dims[i] : d)) } as OnnxArray];
  },
  ConstantOfShape: ([shape], node) => {
    const dims = ints(shape), value = node.attributes.get('value') as OnnxArray | undefined;
    const v = value ? Number(value.data[0]) : 0;
    return [value?.dtype === 'int64' ? int64(new Array(sizeOf(dims)).fill(v), dims) : { dtype: 'float32', dims, data: new Float32Array(sizeOf(dims)).fill(v) }];
  },
  Equal: hostBinary((a, b) => Number(a === b)),
  Less: hostBinary((a, b) => Number(a < b)),
  Greater: hostBinary((a, b) => Number(a > b)),
  Mod: hostBinary((a, b) => a - Math.floor(a / b) * b),
  Where: ([cond, a, b]) => {
    const { dims, at, size } = broadcastIndices([cond!, a!, b!]);
    const c = ints(cond), va = a!.data as ArrayLike<number | bigint>, vb = b!.data as ArrayLike<number | bigint>;
    return [hostArray(a!.dtype, dims, Array.from({ length: size }, (_, i) => (c[at(0, i)] ? va[at(1, i)] : vb[at(2, i)])))];
  },
  Expand: ([x, shape]) => {
    const target = ints(shape), dims = x!.dims;
    const rank = Math.max(target.length, dims.length);
    const from = [...new Array(rank - dims.length).fill(1), ...dims], to = [...new Array(rank - target.length).fill(1), ...target];
    const out = from.map((d, i) => (d === 1 ? to[i] : d));
    return [gatherNd({ ...x!, dims: from }, out.map((d, i) => Array.from({ length: d }, (_, j) => (from[i] === 1 ? 0 : j))))];
  },
  Pow: hostBinary(Math.pow),
  Min: hostBinary(Math.min),
  Max: hostBinary(Math.max),
  Sqrt: ([x]) => [hostArray(x!.dtype, x!.dims, ints(x).map(Math.sqrt))],
  Neg: ([x]) => [hostArray(x!.dtype, x!.dims, Array.from(x!.data as ArrayLike<number | bigint>, (v) => -v as number | bigint))],
  Floor: ([x]) => [hostArray(x!.dtype, x!.dims, ints(x).map(Math.floor))],
  Ceil: ([x]) => [hostArray(x!.dtype, x!.dims, ints(x).map(Math.ceil))],
  Not: ([x]) => [int64(ints(x).map((v) => Number(!v)), x!.dims)],
  And: hostBinary((a, b) => Number(!!a && !!b)),
  Or: hostBinary((a, b) => Number(!!a || !!b)),
  ScatterND: ([data, indices, updates], node) => {
    if (attr(node, 'reduction', 'none') !== 'none') throw new Error(`ScatterND node '${node.name}': only reduction 'none' is folded`);
    const dims = data!.dims, k = indices!.dims[indices!.dims.length - 1], at = ints(indices);
    const strides = dims.map((_, i) => sizeOf(dims.slice(i + 1))), slab = sizeOf(dims.slice(k));
    const out = Array.from(data!.data as ArrayLike<number | bigint>), up = updates!.data as ArrayLike<number | bigint>;
    for (let u = 0; u < at.length / k; u++) {
      let base = 0;
      for (let j = 0; j < k; j++) base += ((at[u * k + j] + dims[j]) % dims[j]) * strides[j];
      for (let e = 0; e < slab; e++) out[base + e] = up[u * slab + e];
    }
    return [hostArray(data!.dtype, [...dims], out)];
  },
  Range: ([start, limit, delta]) => {
    const s = Number(start!.data[0]), l = Number(limit!.data[0]), d = Number(delta!.data[0]);
    const n = Math.max(Math.ceil((l - s) / d), 0);
    return [hostArray(start!.dtype, [n], Array.from({ length: n }, (_, i) => (start!.dtype === 'int64' ? BigInt(s + i * d) : s + i * d)))];
  },
};

/** Host values (the elements of an int64 or float32 array, in order) as an array of that type. */
function hostArray(dtype: OnnxArray['dtype'], dims: number[], values: (number | bigint)[]): OnnxArray {
  return dtype === 'int64' ? { dtype, dims, data: BigInt64Array.from(values, (v) => BigInt(typeof v === 'bigint' ? v : Math.trunc(v))) } : { dtype, dims, data: Float32Array.from(values, Number) };
}

/** The elements of `a` at the cross product of per-dimension index lists (row-major). */
function gatherNd(a: OnnxArray, picks: number[][]): OnnxArray {
  const dims = a.dims.length ? a.dims : [a.data.length];
  const strides = dims.map((_, i) => sizeOf(dims.slice(i + 1)));
  const out: (number | bigint)[] = [];
  const walk = (d: number, base: number) => {
    if (d === dims.length) { out.push((a.data as ArrayLike<number | bigint>)[base]); return; }
    for (const i of picks[d]) walk(d + 1, base + i * strides[d]);
  };
  walk(0, 0);
  const outDims = picks.map((p) => p.length);
  return hostArray(a.dtype, outDims, out);
}

/** Shape(x) of a GPU tensor: folded on the CPU from its shape at run time (batch included). */
export function shapeOf(x: Value, node: OnnxNode): OnnxArray {
  const dims = x instanceof Tensor ? [...x.shape] : x.dims;
  const start = attr(node, 'start', 0), end = attr(node, 'end', dims.length);
  return int64(dims.slice(start < 0 ? start + dims.length : start, end < 0 ? end + dims.length : end));
}
