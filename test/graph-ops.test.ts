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
    // Depthwise 5x5, stride 1, asymmetric pads, a width not a multiple of 4: the depthwise kernel's partial tiles.
    { xs: [2, 3, 9, 11], ws: [3, 1, 5, 5], o: { stride: [1, 1], pads: [2, 1, 2, 3], dilation: [1, 1], groups: 3 }, bias: true },
    // Depthwise (kernels/depthwise.wgsl) with stride 2 on an odd size, with dilation, mixed strides and
    // asymmetric pads, and with stride 3 (the input gradient's tiles of 6).
    { xs: [2, 5, 13, 10], ws: [5, 1, 3, 3], o: { stride: [2, 2], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 5 }, bias: false },
    { xs: [1, 3, 11, 9], ws: [3, 1, 3, 3], o: { stride: [2, 1], pads: [0, 2, 1, 2], dilation: [2, 2], groups: 3 }, bias: true },
    { xs: [1, 2, 10, 12], ws: [2, 1, 5, 5], o: { stride: [3, 3], pads: [2, 2, 2, 2], dilation: [1, 1], groups: 2 }, bias: false },
    // Rows of a multiple of 4 in and out, as MobileNetV2's.
    { xs: [2, 3, 8, 16], ws: [3, 1, 3, 3], o: { stride: [1, 1], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 3 }, bias: false },
    { xs: [1, 4, 12, 24], ws: [4, 1, 3, 3], o: { stride: [2, 2], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 4 }, bias: true },
    { xs: [1, 2, 9, 20], ws: [2, 1, 5, 5], o: { stride: [1, 1], pads: [2, 2, 2, 2], dilation: [1, 1], groups: 2 }, bias: false },
    // ... with dilation and a left pad over 4: the patch starts more than a vec4 left of the tile.
    { xs: [1, 2, 8, 12], ws: [2, 1, 3, 3], o: { stride: [1, 1], pads: [2, 5, 2, 3], dilation: [2, 2], groups: 2 }, bias: true },
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
      if (c.ws[0] === c.xs[1] && c.o.groups === c.xs[1]) {
        // The depthwise kernel's lanes walk whole columns of tiles (lanes 1) or chunks of them, the
        // last one shorter (lanes 64), where these small planes take one tile a lane by default: the same bits.
        const [yv, gv] = [await y.data(), await gs[0].data()];
        for (const lanes of [1, 64]) {
          ops.depthwiseSettings.lanes = lanes;
          try {
            const y2 = ops.groupedConv2d(x, w, b, c.o);
            const [g2] = grad(y2, [x], await gpuTensor(r, ref.shape));
            for (const [what, u, v] of [['forward', await y2.data(), yv], ['input gradient', await g2.data(), gv]] as const) {
              const at = u.findIndex((e, k) => e !== v[k]);
              if (at >= 0) throw new Error(`case ${i} ${what}, lanes ${lanes}: element ${at} differs: ${u[at]} vs ${v[at]}`);
            }
          } finally {
            ops.depthwiseSettings.lanes = 'auto';
          }
        }
      }
    });
  }
});

test('a depthwise convolution with its BatchNorm and ReLU or Clip in one kernel gives the bits of the ops apart, forward and gradients (the input gradient alone takes the BatchNorm backward as it loads)', async () => {
  const [N, C, H, W] = [2, 6, 9, 16];
  for (const o of [{ stride: [2, 2] as [number, number], pads: [1, 1, 1, 1] as [number, number, number, number], groups: C },
    { stride: [1, 1] as [number, number], pads: [1, 2, 1, 0] as [number, number, number, number], groups: C }]) await tidy(async () => {
    const x = await gpuTensor(randoms(N * C * H * W, 61), [N, C, H, W], true), w = await gpuTensor(randoms(C * 9, 62), [C, 1, 3, 3], true);
    const b = await gpuTensor(randoms(C, 63), [C], true);
    const scale = await gpuTensor(randoms(C, 64).map((v) => 1 + v), [C]), shift = await gpuTensor(randoms(C, 65), [C]);
    const cases: [ops.Activation, (t: Tensor) => Tensor][] = [[null, (t) => t], ['relu', (t) => ops.relu(t)], [{ clip: [-0.3, 0.4] }, (t) => ops.clip(t, -0.3, 0.4)]];
    for (const [activation, after] of cases) {
      const fused = ops.groupedConv2dAffine(x, w, b, o, scale, shift, activation);
      const apart = after(ops.channelAffine(ops.groupedConv2d(x, w, b, o), scale, shift));
      const gy = await gpuTensor(randoms(fused.size, 66), [...fused.shape]);
      const [fg, ag] = [grad(fused, [x, w, b], gy), grad(apart, [x, w, b], gy)];
      const [alone] = grad(ops.groupedConv2dAffine(x, w, b, o, scale, shift, activation), [x], gy);
      for (const [what, u, v] of [['forward', fused, apart], ['input gradient', fg[0], ag[0]], ['input gradient alone', alone, ag[0]], ['weight gradient', fg[1], ag[1]], ['bias gradient', fg[2], ag[2]]] as const) {
        const [du, dv] = [await u.data(), await v.data()];
        const at = du.findIndex((e, i) => e !== dv[i]);
        if (at >= 0) throw new Error(`${JSON.stringify(activation)} ${what}: element ${at} differs: ${du[at]} vs ${dv[at]}`);
      }
      const y = await fused.data();
      if (activation && !y.some((v) => v === (activation === 'relu' ? 0 : Math.fround(0.4)))) throw new Error(`${JSON.stringify(activation)}: no value at the bound`);
    }
  });
});

test('a depthwise layer after a convolution with BatchNorm and an activation applies their backward as it stores its input gradient: the bits of the ops apart', async () => {
  // MobileNetV2's expansion (1x1 conv, BatchNorm, ReLU6) then its depthwise layer; widths 16 and 10
  // (vec4 and scalar stores), every input activation, and the depthwise layer's own weight gradient
  // wanted or not (its BatchNorm backward in the kernel's loads or in a pass).
  for (const [W, inAct, wantWeight] of [[16, { clip: [0, 0.5] }, false], [10, 'relu', false], [16, null, true], [10, { clip: [-0.2, 0.3] }, true]] as [number, ops.Activation, boolean][]) {
    await tidy(async () => {
      const [N, C, K, H] = [2, 3, 4, 9];
      const x = await gpuTensor(randoms(N * C * H * W, 71), [N, C, H, W], true);
      const w1 = await gpuTensor(randoms(K * C, 72), [K, C, 1, 1]), wd = await gpuTensor(randoms(K * 9, 73), [K, 1, 3, 3], wantWeight);
      const [s1, b1, s2, b2] = [74, 75, 76, 77].map((seed, i) => randoms(K, seed).map((v) => (i % 2 ? v : 1 + v)));
      const [scale1, shift1, scale2, shift2] = await Promise.all([s1, b1, s2, b2].map((v) => gpuTensor(v, [K])));
      const dw = { stride: [1, 1] as [number, number], pads: [1, 1, 1, 1] as [number, number, number, number], groups: K };
      const fused = ops.groupedConv2dAffine(ops.conv2dAffine(x, w1, null, {}, scale1, shift1, { activation: inAct }), wd, null, dw, scale2, shift2, { clip: [0, 0.6] });
      const act = (t: Tensor) => (inAct === null ? t : inAct === 'relu' ? ops.relu(t) : ops.clip(t, inAct.clip[0], inAct.clip[1]));
      const apart = ops.clip(ops.channelAffine(ops.groupedConv2d(act(ops.channelAffine(ops.conv2d(x, w1), scale1, shift1)), wd, null, dw), scale2, shift2), 0, 0.6);
      const gy = await gpuTensor(randoms(fused.size, 78), [...fused.shape]);
      const wanted = wantWeight ? [x, wd] : [x];
      const [fg, ag] = [grad(fused, wanted, gy), grad(apart, wanted, gy)];
      for (const [i, what] of wanted.map((_, i) => [i, i ? 'depthwise weight gradient' : 'input gradient'] as const)) {
        const [du, dv] = [await fg[i].data(), await ag[i].data()];
        const at = du.findIndex((e, j) => e !== dv[j]);
        if (at >= 0) throw new Error(`W ${W}, ${JSON.stringify(inAct)}: ${what} element ${at} differs: ${du[at]} vs ${dv[at]}`);
        if (!du.some((e) => e !== 0)) throw new Error(`W ${W}: ${what} is all zeros`);
      }
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

const erf64 = (x: number) => { // Abramowitz-Stegun 7.1.26 is too coarse for a reference: the series, then a continued fraction
  const a = Math.abs(x);
  if (a < 2.5) { let s = 0, t = a; for (let n = 0; n < 60; n++) { s += t / (2 * n + 1); t *= -a * a / (n + 1); } return Math.sign(x) * s * 2 / Math.sqrt(Math.PI); }
  let f = 0; for (let n = 60; n >= 1; n--) f = n / 2 / (a + f);
  return Math.sign(x) * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + f));
};

test('leaky ReLU, tanh, erf (GELU), hardswish against float64; hardswish at its kinks and leaky ReLU at 0 as PyTorch', async () => {
  const v = randoms(60, 11).map((t) => t * 5);
  await check('leakyRelu', [3, 20], (x) => ops.leakyRelu(x, 0.1), (x) => x.map((t) => (t > 0 ? t : 0.1 * t)), v);
  await check('tanh', [3, 20], ops.tanh, (x) => x.map(Math.tanh), v);
  await check('erf', [3, 20], ops.erf, (x) => x.map(erf64), Float64Array.from(v, (t) => t / 2));
  await check('hardswish', [3, 20], ops.hardswish, (x) => x.map((t) => t * Math.min(Math.max(t + 3, 0), 6) / 6), v);
  await tidy(async () => {
    const x = await gpuTensor([-3, 3, 0, -4, 4], [5], true);
    const [g] = grad(ops.hardswish(x), [x], await gpuTensor([1, 1, 1, 1, 1], [5]));
    assertClose(await g.data(), [-0.5, 1.5, 0.5, 0, 1], 1e-7, 'hardswish gradient at -3, 3, 0, -4, 4 (PyTorch: x < -3 -> 0, x <= 3 -> x / 3 + 0.5)');
    const z = await gpuTensor([0, -1], [2], true);
    const [gz] = grad(ops.leakyRelu(z, 0.1), [z], await gpuTensor([1, 1], [2]));
    assertClose(await gz.data(), [0.1, 0.1], 1e-7, 'leaky ReLU gradient at 0 takes the slope');
  });
});

test('max along a dimension (ReduceMax, max over time): the first of tied maxima and the first NaN take the gradient', async () => {
  await check('maxAlong', [2, 5, 3], (x) => ops.maxAlong(x, 1), (x) => Float64Array.from({ length: 6 }, (_, i) => {
    const o = Math.floor(i / 3), k = i % 3;
    let m = -Infinity; for (let a = 0; a < 5; a++) m = Math.max(m, x[(o * 5 + a) * 3 + k]); return m;
  }));
  await tidy(async () => {
    const x = await gpuTensor([1, 3, 3, 2, NaN, 1, NaN, 5], [2, 4], true);
    const y = ops.maxAlong(x, 1, true);
    if (y.shape.join() !== '2,1' || String([...(await y.data())]) !== '3,NaN') throw new Error(`max [${y.shape}] ${await y.data()}`);
    const [g] = grad(y, [x], await gpuTensor([1, 1], [2, 1]));
    if ((await g.data()).join() !== '0,1,0,0,1,0,0,0') throw new Error(`max gradient ${await g.data()}`);
  });
});

test('gatherRows: an embedding lookup by float indices, negative ones from the end, outside the table NaN', async () => {
  await tidy(async () => {
    const table = await gpuTensor([0, 1, 10, 11, 20, 21], [3, 2]);
    const y = ops.gatherRows(table, await gpuTensor([2, 0, -1, 3], [2, 2]));
    if (y.shape.join() !== '2,2,2' || String([...(await y.data())]) !== '20,21,0,1,20,21,NaN,NaN') throw new Error(`[${y.shape}] ${await y.data()}`);
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
