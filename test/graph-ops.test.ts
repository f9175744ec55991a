// The ops ONNX models add to ResNet's: each forward against a float64 reference, each gradient against
// central finite differences of that reference.
import { suite } from 'uvu';
import * as ops from '../src/autograd/index.ts';
import { grad, tidy, type Tensor } from '../src/autograd/index.ts';
import { assertClose, dot, gpuTensor, numericGrad, randoms } from './helpers.ts';
import { maxPoolRef } from './reference.ts';

const test = suite('graph-ops');

/** Grouped convolution in float64: w [K, C / groups, KH, KW], pads [top, left, bottom, right]. */
function groupedConvRef(x: ArrayLike<number>, xs: number[], w: ArrayLike<number>, ws: number[], b: ArrayLike<number> | null,
  o: { stride: [number, number]; pads: [number, number, number, number]; dilation: [number, number]; groups: number }) {
  const [N, C, H, W] = xs, [K, CG, KH, KW] = ws, KG = K / o.groups;
  const [SH, SW] = o.stride, [PT, PL, PB, PR] = o.pads, [DH, DW] = o.dilation;
  const OH = Math.floor((H + PT + PB - DH * (KH - 1) - 1) / SH) + 1, OW = Math.floor((W + PL + PR - DW * (KW - 1) - 1) / SW) + 1;
  const y = new Float64Array(N * K * OH * OW);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let s = b ? b[k] : 0;
    for (let c = 0; c < CG; c++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const ih = oh * SH - PT + kh * DH, iw = ow * SW - PL + kw * DW;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      s += w[((k * CG + c) * KH + kh) * KW + kw] * x[((n * C + Math.floor(k / KG) * CG + c) * H + ih) * W + iw];
    }
    y[((n * K + k) * OH + oh) * OW + ow] = s;
  }
  return { y, shape: [N, K, OH, OW] };
}

test('grouped convolution: depthwise, channel multiplier, two groups, asymmetric pads, stride and dilation; all three gradients', async () => {
  const cases: { xs: number[]; ws: number[]; o: Parameters<typeof groupedConvRef>[5]; bias: boolean }[] = [
    { xs: [2, 4, 7, 6], ws: [4, 1, 3, 3], o: { stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 4 }, bias: false },
    { xs: [1, 3, 9, 8], ws: [6, 1, 5, 5], o: { stride: [2, 2], pads: [2, 2, 2, 2], dilation: [1, 1], groups: 3 }, bias: true },
    { xs: [1, 4, 8, 7], ws: [6, 2, 3, 2], o: { stride: [2, 1], pads: [0, 1, 2, 0], dilation: [1, 2], groups: 2 }, bias: true },
    { xs: [1, 2, 6, 6], ws: [3, 2, 3, 3], o: { stride: [1, 1], pads: [1, 0, 0, 1], dilation: [2, 1], groups: 1 }, bias: false },
  ];
  for (const [i, c] of cases.entries()) {
    await tidy(async () => {
      const xv = randoms(c.xs.reduce((a, b) => a * b), 10 + i), wv = randoms(c.ws.reduce((a, b) => a * b), 20 + i), bv = c.bias ? randoms(c.ws[0], 30 + i) : null;
      const x = await gpuTensor(xv, c.xs, true), w = await gpuTensor(wv, c.ws, true), b = bv ? await gpuTensor(bv, [c.ws[0]], true) : null;
      const y = ops.groupedConv2d(x, w, b, c.o);
      const ref = groupedConvRef(xv, c.xs, wv, c.ws, bv, c.o);
      if (y.shape.join() !== ref.shape.join()) throw new Error(`case ${i}: shape [${y.shape}] vs [${ref.shape}]`);
      assertClose(await y.data(), ref.y, 1e-5, `case ${i} forward`);
      const r = randoms(ref.y.length, 40 + i);
      const wanted: Tensor[] = b ? [x, w, b] : [x, w];
      const gs = grad(y, wanted, await gpuTensor(r, ref.shape));
      assertClose(await gs[0].data(), numericGrad((v) => dot(r, groupedConvRef(v, c.xs, wv, c.ws, bv, c.o).y), xv), 1e-4, `case ${i} input gradient`);
      assertClose(await gs[1].data(), numericGrad((v) => dot(r, groupedConvRef(xv, c.xs, v, c.ws, bv, c.o).y), wv), 1e-4, `case ${i} weight gradient`);
      if (b) assertClose(await gs[2].data(), numericGrad((v) => dot(r, groupedConvRef(xv, c.xs, wv, c.ws, v, c.o).y), bv!), 1e-4, `case ${i} bias gradient`);
    });
  }
});

/** An op of one input against float64: forward, and the gradient by central differences with a random weighting. */
async function check(name: string, shape: number[], gpu: (x: Tensor) => Tensor, cpu: (x: Float64Array) => Float64Array, xv = randoms(shape.reduce((a, b) => a * b, 1), 3)) {
  await tidy(async () => {
    const x = await gpuTensor(xv, shape, true);
    const y = gpu(x);
    const ref = cpu(xv);
    assertClose(await y.data(), ref, 1e-5, `${name} forward`);
    const r = randoms(ref.length, 9);
    const [gx] = grad(y, [x], await gpuTensor(r, [...y.shape]));
    assertClose(await gx.data(), numericGrad((v) => dot(r, cpu(v)), xv), 1e-4, `${name} backward`);
  });
}

test('clip (ReLU6) and sigmoid; clip passes no gradient at its bounds, as hardtanh', async () => {
  const scaled = randoms(60, 4).map((v) => v * 8);
  await check('clip', [3, 4, 5], (x) => ops.clip(x, 0, 6), (x) => x.map((v) => Math.min(6, Math.max(0, v))), scaled);
  await check('sigmoid', [3, 4, 5], ops.sigmoid, (x) => x.map((v) => 1 / (1 + Math.exp(-v))), scaled);
  await tidy(async () => {
    const x = await gpuTensor([-1, 0, 3, 6, 7, NaN], [6], true);
    const y = ops.clip(x, 0, 6);
    const [g] = grad(y, [x], await gpuTensor([1, 1, 1, 1, 1, 1], [6]));
    const got = [...(await y.data()), ...(await g.data())].map(String).join();
    if (got !== '0,0,3,6,6,NaN,0,0,1,0,0,1') throw new Error(`clip at its bounds: ${got}`);
  });
});

test('broadcasting: [N, C, 1, 1] * [N, C, H, W] (squeeze-excite), [C] + [N, C], gradients summed over the broadcast dimensions', async () => {
  await tidy(async () => {
    const av = randoms(2 * 3, 5), bv = randoms(2 * 3 * 4 * 5, 6);
    const a = await gpuTensor(av, [2, 3, 1, 1], true), b = await gpuTensor(bv, [2, 3, 4, 5], true);
    const y = ops.broadcastBinary('mul', a, b);
    const ref = (A: ArrayLike<number>, B: ArrayLike<number>) => Float64Array.from({ length: 120 }, (_, i) => A[Math.floor(i / 20)] * B[i]);
    assertClose(await y.data(), ref(av, bv), 1e-6, 'mul forward');
    const r = randoms(120, 7);
    const [ga, gb] = grad(y, [a, b], await gpuTensor(r, [2, 3, 4, 5]));
    assertClose(await ga.data(), numericGrad((v) => dot(r, ref(v, bv)), av), 1e-4, 'mul gradient to the broadcast side');
    assertClose(await gb.data(), numericGrad((v) => dot(r, ref(av, v)), bv), 1e-4, 'mul gradient to the full side');
    const c = await gpuTensor([1, 2, 3], [3], true), d = await gpuTensor(bv.slice(0, 6), [2, 3], true);
    const z = ops.broadcastBinary('add', c, d);
    assertClose(await z.data(), Float64Array.from({ length: 6 }, (_, i) => [1, 2, 3][i % 3] + bv[i]), 1e-6, 'add forward');
    const [gc] = grad(z, [c], await gpuTensor([1, 2, 3, 4, 5, 6], [2, 3]));
    assertClose(await gc.data(), [5, 7, 9], 1e-6, 'add gradient');
  });
});

test('max pool with ceil_mode (SqueezeNet): the last window partly outside; its gradient', async () => {
  // 3x3 stride 2 on 8x8: floor gives 3, ceil gives 4 windows per side (the last covers rows 6-7 only).
  const xs = [1, 2, 8, 8];
  const cpu = (x: Float64Array) => {
    const padded = new Float64Array(2 * 9 * 9).fill(-Infinity);
    for (let c = 0; c < 2; c++) for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) padded[(c * 9 + i) * 9 + j] = x[(c * 8 + i) * 8 + j];
    return maxPoolRef(padded, [1, 2, 9, 9], 3, 2, 0).y;
  };
  await check('maxpool ceil', xs, (x) => ops.maxPool2d(x, { kernelSize: 3, stride: 2, ceilMode: true }), cpu);
  await tidy(async () => {
    const y = ops.maxPool2d(await gpuTensor(new Float32Array(2 * 8 * 8), xs), { kernelSize: 3, stride: 2, ceilMode: true });
    if (y.shape.join() !== '1,2,4,4') throw new Error(`[${y.shape}]`);
  });
});

test.run();
