import { suite } from 'uvu';
import * as ops from '../src/autograd/index.ts';
import { grad, tidy, type Tensor } from '../src/autograd/index.ts';
import { assertClose, dot, getGpu, gpuTensor, numericGrad, randoms } from './helpers.ts';
import { interpolateRef, matmulRef, maxPoolRef, softmaxRef } from './reference.ts';

const test = suite('ops');

/**
 * Checks an op's forward against a float64 reference and its backward against central finite
 * differences of that reference, with a random output weighting so every output matters.
 */
async function check(name: string, shape: number[], gpu: (x: Tensor) => Tensor, cpu: (x: Float64Array) => Float64Array, seed = 1, tol = 1e-4) {
  await tidy(async () => {
    const xv = randoms(shape.reduce((a, b) => a * b, 1), seed);
    const x = await gpuTensor(xv, shape, true);
    const y = gpu(x);
    const ref = cpu(xv);
    assertClose(await y.data(), ref, 1e-5, `${name} forward`);
    const r = randoms(ref.length, seed + 7);
    const [gx] = grad(y, [x], await gpuTensor(r, [...y.shape]));
    assertClose(await gx.data(), numericGrad((v) => dot(r, cpu(v)), xv), tol, `${name} backward`);
  });
}

const map = (f: (v: number) => number) => (x: Float64Array) => x.map(f);
const rowMajorStrides = (shape: number[]) => shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
/** out[i0, i1, ...] = x[offset + sum of id * strides[d]], by index arithmetic on the CPU. */
function gatherRef(x: Float64Array, shape: number[], strides: number[], offset: number): Float64Array {
  const out = new Float64Array(shape.reduce((a, b) => a * b, 1));
  for (let o = 0; o < out.length; o++) {
    let t = o, at = offset;
    for (let d = shape.length - 1; d >= 0; d--) { at += (t % shape[d]) * strides[d]; t = Math.floor(t / shape[d]); }
    out[o] = x[at];
  }
  return out;
}

test('elementwise: relu (gradient 0 at 0), affine, square, abs, exp', async () => {
  await check('relu', [2, 3, 5], ops.relu, map((v) => Math.max(v, 0)));
  await check('affine', [7], (x) => ops.affine(x, 2.5, -1), map((v) => 2.5 * v - 1));
  await check('square', [3, 4], ops.square, map((v) => v * v));
  await check('abs', [3, 4], ops.abs, map(Math.abs));
  await check('exp', [3, 4], ops.exp, map(Math.exp));
  await tidy(async () => {
    const x = await gpuTensor([-1, 0, 2], [3], true);
    const [g] = grad(ops.relu(x), [x], await gpuTensor([5, 5, 5], [3]));
    if ((await g.data()).join() !== '0,0,5') throw new Error('ReLU gradient at 0 must be 0');
  });
});

test('fill: zeros by clearBuffer leave no trace of a reused buffer; -0 and other values by the kernel (scalar and vec4)', async () => {
  const ctx = await getGpu();
  for (const shape of [[3, 5, 7, 11], [2, 4, 6]]) {
    const dirty = ops.fill(ctx, shape, 5);
    await dirty.data();
    dirty.release(); // back to the pool, 5s and all: the next tensor of this size gets it
    for (const [value, bits] of [[0, 0], [-0, 0x80000000], [2.5, 0x40200000]]) {
      const t = ops.fill(ctx, shape, value);
      const got = new Uint32Array((await t.data()).buffer);
      t.release();
      const bad = got.findIndex((b) => b !== bits);
      if (bad >= 0) throw new Error(`fill(${Object.is(value, -0) ? '-0' : value}) [${shape}]: element ${bad} has bits ${got[bad].toString(16)}`);
    }
  }
});

test('binary ops with gradients to both sides, fan-in summed', async () => {
  await tidy(async () => {
    const av = randoms(12, 3), bv = randoms(12, 4).map((v) => v + 2);
    const a = await gpuTensor(av, [3, 4], true), b = await gpuTensor(bv, [3, 4], true);
    // f = sum(a*b + a/b - 3a + b) uses a three times: its gradients must be summed.
    const f = ops.sum(ops.add(ops.sub(ops.add(ops.mul(a, b), ops.div(a, b)), ops.scale(a, 3)), b));
    const [ga, gb] = grad(f, [a, b]);
    const expA = av.map((_, i) => bv[i] + 1 / bv[i] - 3), expB = av.map((v, i) => v - v / bv[i] ** 2 + 1);
    assertClose(await ga.data(), expA, 1e-5, 'd/da');
    assertClose(await gb.data(), expB, 1e-5, 'd/db');
  });
});

test('sum and mean over dims, keepDim', async () => {
  const shape = [2, 3, 4, 5];
  const sumRef = (x: Float64Array, dims: number[], scale = 1) => {
    const outShape = shape.map((d, i) => (dims.includes(i) ? 1 : d));
    const out = new Float64Array(outShape.reduce((a, b) => a * b));
    for (let i = 0; i < x.length; i++) {
      let rem = i, o = 0, stride = 1;
      const idx = [0, 0, 0, 0];
      for (let d = 3; d >= 0; d--) { idx[d] = rem % shape[d]; rem = Math.floor(rem / shape[d]); }
      for (let d = 3; d >= 0; d--) { o += (dims.includes(d) ? 0 : idx[d]) * stride; stride *= outShape[d]; }
      out[o] += x[i] * scale;
    }
    return out;
  };
  await check('sum[1]', shape, (x) => ops.sum(x, 1), (x) => sumRef(x, [1]));
  await check('sum[0,2]', shape, (x) => ops.sum(x, [0, 2], true), (x) => sumRef(x, [0, 2]));
  await check('mean[2,3]', shape, (x) => ops.mean(x, [2, 3], true), (x) => sumRef(x, [2, 3], 1 / 20));
  await check('sum all', shape, (x) => ops.sum(x), (x) => sumRef(x, [0, 1, 2, 3]));
});

test('max pool 3x3 stride 2 padding 1 (ResNet stem), 2x2 and other geometries, gradient to the arg-max', async () => {
  await check('maxpool3s2p1', [2, 3, 9, 8], (x) => ops.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }), (x) => maxPoolRef(x, [2, 3, 9, 8], 3, 2, 1).y);
  await check('maxpool2', [1, 2, 6, 6], (x) => ops.maxPool2d(x, { kernelSize: 2 }), (x) => maxPoolRef(x, [1, 2, 6, 6], 2, 2, 0).y);
  // The backward finds each pixel's windows per row and per lane column: strides, dilations and
  // windows wider than twice the stride, non-square.
  await check('maxpool3s1p1d2', [1, 2, 7, 9], (x) => ops.maxPool2d(x, { kernelSize: 3, stride: 1, padding: 1, dilation: 2 }), (x) => maxPoolRef(x, [1, 2, 7, 9], 3, 1, 1, 2).y);
  await check('maxpool5x3s(3,2)p(2,1)', [2, 1, 11, 10], (x) => ops.maxPool2d(x, { kernelSize: [5, 3], stride: [3, 2], padding: [2, 1] }), (x) => maxPoolRef(x, [2, 1, 11, 10], [5, 3], [3, 2], [2, 1]).y);
  await check('maxpool4s3', [1, 1, 10, 13], (x) => ops.maxPool2d(x, { kernelSize: 4, stride: 3 }), (x) => maxPoolRef(x, [1, 1, 10, 13], 4, 3, 0).y);
  // Ties: PyTorch sends the gradient to the first maximum in scan order.
  await tidy(async () => {
    const x = await gpuTensor([1, 1, 1, 1], [1, 1, 2, 2], true);
    const [g] = grad(ops.maxPool2d(x, { kernelSize: 2 }), [x], await gpuTensor([3], [1, 1, 1, 1]));
    if ((await g.data()).join() !== '3,0,0,0') throw new Error(`tie rule: got ${await g.data()}`);
  });
});

test('adaptive average pool to 1x1, flatten, linear, matmul', async () => {
  await check('avgpool', [2, 3, 4, 5], ops.adaptiveAvgPool2d1, (x) => {
    const out = new Float64Array(6);
    x.forEach((v, i) => (out[Math.floor(i / 20)] += v / 20));
    return out;
  });
  const wv = randoms(5 * 7, 11), bv = randoms(5, 12);
  await check('linear', [3, 7], (x) => tidy(() => ops.linear(x, ops.keep(ops.fromArray(x.ctx, wv, [5, 7])), ops.keep(ops.fromArray(x.ctx, bv, [5])))),
    (x) => matmulRef(x, Float64Array.from({ length: 35 }, (_, i) => wv[(i % 5) * 7 + Math.floor(i / 5)]), 3, 7, 5).map((v, i) => v + bv[i % 5]));
  const bm = randoms(6 * 4, 13);
  await check('matmul', [5, 6], (x) => ops.matmul(x, ops.fromArray(x.ctx, bm, [6, 4])), (x) => matmulRef(x, bm, 5, 6, 4));
});

test('linear runs its forward through the 1x1 convolution kernel with matmul\'s bits, its weight\'s copy made once and freed with it', async () => {
  const ctx = await getGpu();
  // Output counts not multiples of 4; a batch wider than a workgroup's columns.
  for (const [N, I, O] of [[3, 7, 5], [23, 64, 42]]) {
    const w = ops.keep(ops.fromArray(ctx, randoms(O * I, 21), [O, I])), b = ops.keep(ops.fromArray(ctx, randoms(O, 22), [O]));
    const x = ops.keep(ops.fromArray(ctx, randoms(N * I, 23), [N, I]));
    try {
      const viaMatmul = await tidy(() => ops.broadcastBinary('add', ops.matmul(x, ops.permute(w, [1, 0])), b).data());
      const first = await tidy(() => ops.linear(x, w, b).data());
      const live = ctx.pool.liveBytes;
      const second = await tidy(() => ops.linear(x, w, b).data());
      for (let i = 0; i < first.length; i++) {
        if (first[i] !== viaMatmul[i] || second[i] !== first[i]) throw new Error(`[${N}, ${I}] x [${O}, ${I}]: element ${i}: ${first[i]}, again ${second[i]}, matmul ${viaMatmul[i]}`);
      }
      if (ctx.pool.liveBytes !== live) throw new Error(`a second linear left ${ctx.pool.liveBytes - live} more live bytes: the weight's copy is not kept`);
    } finally {
      const before = ctx.pool.liveBytes, own = 4 * (O * I + O + N * I);
      [w, b, x].forEach((t) => t.release());
      if (before - ctx.pool.liveBytes < own + 4 * O * I) throw new Error(`releasing the weight freed ${before - ctx.pool.liveBytes} bytes, not its copy too`);
    }
  }
});

test('linear gradients to weight and bias', async () => {
  await tidy(async () => {
    const xv = randoms(3 * 4, 1), wv = randoms(2 * 4, 2), bv = randoms(2, 3);
    const x = await gpuTensor(xv, [3, 4]), w = await gpuTensor(wv, [2, 4], true), b = await gpuTensor(bv, [2], true);
    const r = randoms(6, 9);
    const [gw, gb] = grad(ops.linear(x, w, b), [w, b], await gpuTensor(r, [3, 2]));
    const f = (ww: Float64Array, bb: Float64Array) => {
      let s = 0;
      for (let n = 0; n < 3; n++) for (let o = 0; o < 2; o++) {
        let y = bb[o];
        for (let i = 0; i < 4; i++) y += xv[n * 4 + i] * ww[o * 4 + i];
        s += r[n * 2 + o] * y;
      }
      return s;
    };
    assertClose(await gw.data(), numericGrad((v) => f(v, bv), wv), 1e-4, 'grad weight');
    assertClose(await gb.data(), numericGrad((v) => f(wv, v), bv), 1e-4, 'grad bias');
  });
});

test('softmax and target selection', async () => {
  await check('softmax', [3, 10], ops.softmax, (x) => softmaxRef(x, 3, 10));
  await check('select', [3, 10], (x) => ops.selectTargets(x, [2, 0, 9]), (x) => Float64Array.from([x[2], x[10], x[29]]));
  let msg = '';
  await tidy(async () => {
    try { ops.selectTargets(await gpuTensor(new Float32Array(20), [2, 10]), [1, 10]); } catch (e) { msg = (e as Error).message; }
  });
  if (!msg.includes('out of range')) throw new Error(`expected an out-of-range error, got '${msg}'`);
});

test('interpolate nearest and bilinear (align_corners=False), up and down', async () => {
  for (const mode of ['nearest', 'bilinear'] as const) {
    await check(`${mode} up`, [1, 2, 4, 3], (x) => ops.interpolate(x, [9, 7], mode), (x) => interpolateRef(x, [1, 2, 4, 3], 9, 7, mode));
    await check(`${mode} down`, [2, 1, 8, 10], (x) => ops.interpolate(x, [3, 4], mode), (x) => interpolateRef(x, [2, 1, 8, 10], 3, 4, mode));
  }
});

test('batch norm (inference affine), permute (six dimensions), stepped slices of ranks 1 to 5, concat, repeat and slice along the batch', async () => {
  const sv = randoms(3, 5), tv = randoms(3, 6);
  await check('batchnorm', [2, 3, 2, 2], (x) => ops.channelAffine(x, ops.fromArray(x.ctx, sv, [3]), ops.fromArray(x.ctx, tv, [3])),
    (x) => x.map((v, i) => v * sv[Math.floor(i / 4) % 3] + tv[Math.floor(i / 4) % 3]));
  // The fused ReLU and the ResNet block tail relu(bn(x) + residual): gradients to x and to the residual.
  const bn = (v: number, i: number, hw: number) => v * sv[Math.floor(i / hw) % 3] + tv[Math.floor(i / hw) % 3];
  await check('batchnorm relu', [2, 3, 3, 5], (x) => ops.channelAffine(x, ops.fromArray(x.ctx, sv, [3]), ops.fromArray(x.ctx, tv, [3]), 'relu'),
    (x) => x.map((v, i) => Math.max(bn(v, i, 15), 0)));
  const rv = randoms(90, 9), xv = randoms(90, 10);
  await check('batchnorm add relu (x)', [2, 3, 3, 5], (x) => ops.channelAffine(x, ops.fromArray(x.ctx, sv, [3]), ops.fromArray(x.ctx, tv, [3]), 'relu', ops.fromArray(x.ctx, rv, [2, 3, 3, 5])),
    (x) => x.map((v, i) => Math.max(bn(v, i, 15) + rv[i], 0)));
  await check('batchnorm add relu (residual)', [2, 3, 3, 5], (r) => ops.channelAffine(ops.fromArray(r.ctx, xv, [2, 3, 3, 5]), ops.fromArray(r.ctx, sv, [3]), ops.fromArray(r.ctx, tv, [3]), 'relu', r),
    (r) => r.map((v, i) => Math.max(bn(xv[i], i, 15) + v, 0)));
  await tidy(async () => {
    // Bit for bit what the three ops give apart, so fusing changes no attribution.
    const ctx = await getGpu();
    const x = ops.fromArray(ctx, randoms(2 * 64 * 7 * 7, 11), [2, 64, 7, 7]), r = ops.fromArray(ctx, randoms(2 * 64 * 7 * 7, 12), [2, 64, 7, 7]);
    const s = ops.fromArray(ctx, randoms(64, 13), [64]), t = ops.fromArray(ctx, randoms(64, 14), [64]);
    const fused = await ops.channelAffine(x, s, t, 'relu', r).data();
    const apart = await ops.relu(ops.add(ops.channelAffine(x, s, t), r)).data();
    if (fused.some((v, i) => v !== apart[i])) throw new Error('fused batch_norm_add_relu differs from batch_norm, add, relu');
  });
  await check('permute', [2, 3, 4], (x) => ops.permute(x, [2, 0, 1]), (x) => {
    const out = new Float64Array(24);
    for (let a = 0; a < 2; a++) for (let b = 0; b < 3; b++) for (let c = 0; c < 4; c++) out[(c * 2 + a) * 3 + b] = x[(a * 3 + b) * 4 + c];
    return out;
  });
  // Views of every merged rank from 1 to 6 (the gather kernel splits an index into that many dimensions only).
  const dims6 = [2, 3, 2, 3, 2, 2], perm6 = [5, 3, 1, 0, 4, 2], strides6 = rowMajorStrides(dims6);
  await check('permute of six dimensions', dims6, (x) => ops.permute(x, perm6), (x) => gatherRef(x, perm6.map((d) => dims6[d]), perm6.map((d) => strides6[d]), 0));
  for (const [rank, shape, starts, steps, size] of [[1, [10], [1], [3], [3]], [2, [4, 6], [1, 0], [2, 1], [2, 6]], [3, [3, 4, 5], [2, 3, 4], [-1, -2, -2], [3, 2, 3]],
    [4, [2, 3, 3, 4], [0, 1, 0, 1], [1, 1, 2, 2], [2, 2, 2, 2]], [5, [2, 2, 3, 2, 3], [1, 0, 0, 0, 0], [-1, 1, 2, 1, 2], [2, 2, 2, 2, 2]]] as [number, number[], number[], number[], number[]][]) {
    const strides = rowMajorStrides(shape);
    await check(`stepped slice of rank ${rank}`, shape, (x) => ops.slice(x, starts, steps, size),
      (x) => gatherRef(x, size, strides.map((s, d) => s * steps[d]), starts.reduce((a, s, d) => a + s * strides[d], 0)));
  }
  await check('concat', [2, 3], (x) => ops.concat([x, ops.scale(x, 2)]), (x) => Float64Array.from([...x, ...x.map((v) => 2 * v)]));
  await check('repeat', [2, 3], (x) => ops.repeatBatch(x, 3), (x) => Float64Array.from([...x, ...x, ...x]));
  await check('slice', [4, 3], (x) => ops.sliceBatch(x, 1, 3), (x) => x.slice(3, 9));
});

test.run();
