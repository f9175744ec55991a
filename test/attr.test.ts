import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import { parseSafetensors } from '../src/io/safetensors.ts';
import { type Tensor, fromArray, tidy } from '../src/autograd/index.ts';
import * as ops from '../src/autograd/ops/index.ts';
import * as A from '../src/attr/index.ts';
import { assertClose, getGpu, randoms } from './helpers.ts';
import { conv2dRef } from './reference.ts';
import { Module, nameModules } from '../src/nn/module.ts';
import { Conv2d, Linear, ReLU, Sequential } from '../src/nn/layers.ts';
import { ref, resnet18Seed0 } from './refdata.ts';
import { linearStem } from '../src/nn/stem.ts';

const test = suite('attribution');
const F64 = 'resnet18_chelsea_64.safetensors';

async function input64(): Promise<Tensor> {
  const r = ref(F64, 'input');
  return fromArray(await getGpu(), r.data, r.shape);
}

test('ResNet-18 64x64: IG (16 steps) and its delta, Saliency, Occlusion, Grad-CAM match Captum', async () => {
  const model = (await resnet18Seed0(await getGpu())).net;
  await tidy(async () => {
    const x = await input64();
    const [ig, delta] = await new A.IntegratedGradients(model).attribute(x, { target: 281, nSteps: 16, returnConvergenceDelta: true });
    assertClose(await ig.data(), ref(F64, 'ig_gl16').data, 1e-3, 'ig_gl16');
    assertClose(await delta.data(), ref(F64, 'ig_gl16_delta').data, 1e-3, 'ig_gl16_delta');
    assertClose(await (await new A.Saliency(model).attribute(x, { target: 281 })).data(), ref(F64, 'saliency').data, 1e-3, 'saliency');
    const occ = await new A.Occlusion(model).attribute(x, { target: 281, slidingWindowShapes: [3, 8, 8], strides: [3, 4, 4], baselines: 0 });
    assertClose(await occ.data(), ref(F64, 'occlusion_w8_s4').data, 1e-3, 'occlusion_w8_s4');
    // The ResNet itself takes the receptive-field forward; a function around it, the full one: the
    // same bits, also for windows over some channels only, a baseline tensor and cropped last windows.
    const baselines = fromArray(x.ctx, Float32Array.from({ length: x.size }, (_, i) => (i % 7) / 10 - 0.3), x.shape);
    for (const o of [{ slidingWindowShapes: [3, 8, 8], strides: [3, 4, 4] }, { slidingWindowShapes: [1, 9, 13], strides: [2, 10, 6], baselines }]) {
      const boxed = await (await new A.Occlusion(model).attribute(x, { target: 281, ...o })).data();
      const full = await (await new A.Occlusion((t: Tensor) => model.call(t)).attribute(x, { target: 281, ...o })).data();
      const differ = boxed.filter((v, i) => !Object.is(v, full[i])).length; // NaN where no window covers (channel 1 of the second)
      if (differ) throw new Error(`receptive-field Occlusion ${JSON.stringify(o.slidingWindowShapes)}: ${differ} of ${full.length} values differ from the full forward's`);
    }
    const cam = await new A.LayerGradCam(model, 'layer3.1.conv2').attribute(x, { target: 281 });
    assertClose(await cam.data(), ref(F64, 'gradcam_layer3.1.conv2').data, 1e-3, 'gradcam_layer3.1.conv2');
  });
});

test('IG on a ResNet sums its steps\' gradients at conv1\'s output (the linear stem): the plain path\'s values; hooks turn it off', async () => {
  const net = (await resnet18Seed0(await getGpu())).net;
  if (!linearStem(net)) throw new Error('a plain ResNet has no linear stem');
  const off = net.conv1.registerForwardHook(() => undefined);
  const hooked = linearStem(net);
  off();
  if (hooked) throw new Error('a hooked conv1 must keep the plain path (the hook sees each step\'s input)');
  await tidy(async () => {
    const x = await input64();
    const baselines = fromArray(x.ctx, Float32Array.from({ length: x.size }, (_, i) => (i % 5) / 10 - 0.2), x.shape);
    const opts = { target: 281, nSteps: 6, baselines, internalBatchSize: 4 }; // two batches, the last one short
    const viaStem = await (await new A.IntegratedGradients(net).attribute(x, opts)).data();
    const plain = await (await new A.IntegratedGradients((t: Tensor) => net.call(t)).attribute(x, opts)).data();
    assertClose(viaStem, plain, 1e-5, 'IG through the linear stem vs the plain path');
    if (viaStem.every((v, i) => v === plain[i])) throw new Error('the same bits: the linear stem was not taken');
  });
});

// f(x1, x2) = ReLU(ReLU(x1) - 1 - ReLU(x2)): Captum's own IG check.
async function reluNet() {
  const ctx = await getGpu();
  const w = fromArray(ctx, [1, -1], [1, 2]), b = fromArray(ctx, [-1], [1]);
  return { forward: (x: Tensor) => ops.relu(ops.linear(ops.relu(x), w, b)), release: () => { w.release(); b.release(); } };
}

test("Captum's analytic IG check: ReLU(ReLU(x1) - 1 - ReLU(x2)) at (3, 1), 500 riemann_right steps gives (1.5, -0.5)", async () => {
  const net = await reluNet();
  await tidy(async () => {
    const x = fromArray(await getGpu(), [3, 1], [1, 2]);
    const attr = await (await new A.IntegratedGradients(net.forward).attribute(x, { target: 0, nSteps: 500, method: 'riemann_right' })).data();
    if (Math.abs(attr[0] - 1.5) > 0.05 || Math.abs(attr[1] + 0.5) > 0.05) throw new Error(`got ${attr}`);
  });
  net.release();
});

test('quadrature tables: Gauss-Legendre for n = 2, 3, 4 and the Riemann rules', () => {
  const close = (a: number[], b: number[], what: string) => a.forEach((v, i) => { if (Math.abs(v - b[i]) > 1e-9) throw new Error(`${what}: ${a} vs ${b}`); });
  close(A.legendreGauss(2).nodes, [-1 / Math.sqrt(3), 1 / Math.sqrt(3)], 'n=2 nodes');
  close(A.legendreGauss(2).weights, [1, 1], 'n=2 weights');
  close(A.legendreGauss(3).nodes, [-Math.sqrt(3 / 5), 0, Math.sqrt(3 / 5)], 'n=3 nodes');
  close(A.legendreGauss(3).weights, [5 / 9, 8 / 9, 5 / 9], 'n=3 weights');
  const r = (s: number) => Math.sqrt(3 / 7 + (2 / 7) * Math.sqrt(6 / 5) * s);
  close(A.legendreGauss(4).nodes, [-r(1), -r(-1), r(-1), r(1)], 'n=4 nodes');
  const wt = (s: number) => (18 + s * Math.sqrt(30)) / 36;
  close(A.legendreGauss(4).weights, [wt(-1), wt(1), wt(1), wt(-1)], 'n=4 weights');
  close(A.approximationParameters('gausslegendre', 2).alphas, [0.5 - 0.5 / Math.sqrt(3), 0.5 + 0.5 / Math.sqrt(3)], 'gl alphas');
  close(A.approximationParameters('riemann_left', 4).alphas, [0, 0.25, 0.5, 0.75], 'left');
  close(A.approximationParameters('riemann_right', 4).alphas, [0.25, 0.5, 0.75, 1], 'right');
  close(A.approximationParameters('riemann_middle', 4).alphas, [0.125, 0.375, 0.625, 0.875], 'middle');
  close(A.approximationParameters('riemann_trapezoid', 4).stepSizes, [1 / 8, 1 / 4, 1 / 4, 1 / 8], 'trapezoid (Captum: 1/n, ends halved)');
  for (let n = 1; n <= 40; n++) {
    const s = A.legendreGauss(n).weights.reduce((a, b) => a + b, 0);
    if (Math.abs(s - 2) > 1e-12) throw new Error(`weights of n=${n} sum to ${s}`);
  }
});

test('Occlusion on a linear net: window 1 gives [80, 200, 120] on [20, 50, 30]', async () => {
  const ctx = await getGpu();
  await tidy(async () => {
    const w = fromArray(ctx, [4, 4, 4], [1, 3]);
    const x = fromArray(ctx, [20, 50, 30], [1, 3]);
    const attr = await (await new A.Occlusion((t) => ops.linear(t, w)).attribute(x, { target: 0, slidingWindowShapes: [1] })).data();
    if ([...attr].join() !== '80,200,120') throw new Error(`got ${attr}`);
    // Windows of 2 with stride 1 average over the two covering windows (the middle) or take the one.
    const attr2 = await (await new A.Occlusion((t) => ops.linear(t, w)).attribute(x, { target: 0, slidingWindowShapes: [2] })).data();
    assertClose(attr2, [280, (280 + 320) / 2, 320], 1e-6, 'window 2');
    // FeatureAblation with a mask grouping the first two elements.
    const fa = await (await new A.FeatureAblation((t) => ops.linear(t, w)).attribute(x, { target: 0, featureMask: [0, 0, 1] })).data();
    assertClose(fa, [280, 280, 120], 1e-6, 'feature ablation');
  });
});

test('Grad-CAM on a one-conv net equals the closed form sum_k mean(dF/dA_k) A_k', async () => {
  const ctx = await getGpu();
  const xs = [1, 1, 5, 5], ws = [2, 1, 3, 3];
  const xv = randoms(25, 21), wv = randoms(18, 22);
  const conv = new Conv2d(1, 2, 3);
  conv.loadStateDict(ctx, new Map([['weight', { dtype: 'F32', shape: ws, data: Float32Array.from(wv) }]]));
  // F = sum(A_0) + 2 sum(A_1): the gradient at the conv output is 1 on channel 0 and 2 on channel 1.
  const head = fromArray(ctx, Array.from({ length: 18 }, (_, i) => (i < 9 ? 1 : 2)), [1, 18]);
  const net = new (class extends Module {
    constructor() { super(); this.addChild('conv', conv); nameModules(this); }
    forward(x: Tensor) { return ops.linear(ops.flatten(conv.call(x)), head); }
  })();
  await tidy(async () => {
    const cam = await (await new A.LayerGradCam(net, 'conv').attribute(fromArray(ctx, xv, xs), { target: 0 })).data();
    const acts = conv2dRef(xv, xs, wv, ws, null).y;
    const expect = Array.from({ length: 9 }, (_, i) => acts[i] + 2 * acts[9 + i]);
    assertClose(cam, expect, 1e-5, 'grad-cam');
  });
  head.release();
  conv.release();
});

test('internalBatchSize does not change IG; convergence delta under 0.005 on a softmax MLP with 200 steps', async () => {
  const ctx = await getGpu();
  const w1 = fromArray(ctx, randoms(12, 31), [4, 3]), b1 = fromArray(ctx, randoms(4, 32), [4]);
  const w2 = fromArray(ctx, randoms(8, 33), [2, 4]), b2 = fromArray(ctx, randoms(2, 34), [2]);
  const mlp = (x: Tensor) => ops.softmax(ops.linear(ops.relu(ops.linear(x, w1, b1)), w2, b2));
  await tidy(async () => {
    const x = fromArray(ctx, [...randoms(6, 35)].map((v) => 2 * v), [2, 3]);
    const ig = new A.IntegratedGradients(mlp);
    const a1 = await (await ig.attribute(x, { target: [0, 1], nSteps: 20 })).data();
    const a2 = await (await ig.attribute(x, { target: [0, 1], nSteps: 20, internalBatchSize: 3 })).data();
    assertClose(a2, a1, 1e-6, 'internalBatchSize 3 vs default');
    const [, delta] = await ig.attribute(x, { target: [0, 1], nSteps: 200, returnConvergenceDelta: true });
    for (const d of await delta.data()) if (!(Math.abs(d) < 0.005)) throw new Error(`delta ${d}`);
  });
  [w1, b1, w2, b2].forEach((t) => t.release());
});

test('Deconvolution on ResNet-18 64x64 matches Captum (test/fixtures/make_deconvolution.py)', async () => {
  const model = (await resnet18Seed0(await getGpu())).net;
  const file = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'deconvolution_64.safetensors');
  const want = parseSafetensors(new Uint8Array(readFileSync(file))).tensors.get('deconvolution')!.data as Float32Array;
  await tidy(async () => {
    const got = await (await new A.Deconvolution(model).attribute(await input64(), { target: 281 })).data();
    assertClose(got, want, 1e-3, 'deconvolution');
  });
});

test('NoiseTunnel: closed forms on a linear and a quadratic model; same seed, same result', async () => {
  const ctx = await getGpu();
  await tidy(async () => {
    const w = fromArray(ctx, [0.5, -2, 3], [1, 3]);
    const lin = (t: Tensor) => ops.linear(t, w);
    const x = fromArray(ctx, [1, 2, 3], [1, 3]);
    const nt = new A.NoiseTunnel(new A.Saliency(lin));
    // The gradient of a linear model ignores the noise: smoothgrad is |w|, vargrad 0.
    assertClose(await (await nt.attribute(x, { target: 0, nSamples: 7, stdevs: 0.7 })).data(), [0.5, 2, 3], 1e-6, 'smoothgrad');
    assertClose(await (await nt.attribute(x, { target: 0, ntType: 'smoothgrad_sq', nSamples: 7, stdevs: 0.7 })).data(), [0.25, 4, 9], 1e-6, 'smoothgrad_sq');
    const vg = await (await nt.attribute(x, { target: 0, ntType: 'vargrad', nSamples: 7, stdevs: 0.7 })).data();
    if (vg.some((v) => Math.abs(v) > 1e-5)) throw new Error(`vargrad ${vg}`);
    // f = sum(x^2): gradient 2(x + e), e ~ N(0, s^2): smoothgrad -> 2x, vargrad -> 4 s^2.
    const quad = (t: Tensor) => ops.sum(ops.square(t), 1, true);
    const q = new A.NoiseTunnel(new A.Saliency(quad));
    const sg = await (await q.attribute(x, { target: 0, nSamples: 4000, stdevs: 0.5, abs: false, nSamplesBatchSize: 1000 })).data();
    assertClose(sg, [2, 4, 6], 0.03, 'smoothgrad of sum(x^2)');
    const v = await (await q.attribute(x, { target: 0, ntType: 'vargrad', nSamples: 4000, stdevs: 0.5, abs: false })).data();
    for (const e of v) if (Math.abs(e - 1) > 0.15) throw new Error(`vargrad ${v}, expected about 1`);
    const r1 = await (await q.attribute(x, { target: 0, nSamples: 3, seed: 5, abs: false })).data();
    const r2 = await (await q.attribute(x, { target: 0, nSamples: 3, seed: 5, abs: false })).data();
    const r3 = await (await q.attribute(x, { target: 0, nSamples: 3, seed: 6, abs: false })).data();
    if (r1.join() !== r2.join() || r1.join() === r3.join()) throw new Error('the seed must decide the noise');
  });
});

test('GradientShap on a linear model is w (x - b) averaged over the baselines drawn', async () => {
  const ctx = await getGpu();
  await tidy(async () => {
    const w = fromArray(ctx, [0.5, -2, 3], [1, 3]);
    const x = fromArray(ctx, [1, 2, 3], [1, 3]);
    const b = fromArray(ctx, [1, 1, 1], [1, 3]);
    const attr = await (await new A.GradientShap((t) => ops.linear(t, w)).attribute(x, { baselines: b, target: 0, nSamples: 9 })).data();
    assertClose(attr, [0, -2, 6], 1e-6, 'gradient shap');
  });
});

test('LayerConductance and LayerIntegratedGradients on a separable MLP equal their closed forms', async () => {
  const ctx = await getGpu();
  // f(x) = w2 . relu(W1 x + b1) + b2 is separable in the hidden layer a = W1 x + b1: both methods give
  // w2_i (relu(a_i(x)) - relu(a_i(baseline))) per hidden unit, and (h(x) - h(b)) w2 at the input of fc2.
  const W1 = [1, -2, 0.5, -1, 1, 1, 2, 0, -1], b1 = [0.1, 0.2, -0.3], w2 = [1.5, -2, 0.5];
  const mlp = new Sequential(new Linear(3, 3), new ReLU(), new Linear(3, 1));
  nameModules(mlp);
  mlp.loadStateDict(ctx, new Map([
    ['0.weight', { dtype: 'F32', shape: [3, 3], data: Float32Array.from(W1) }], ['0.bias', { dtype: 'F32', shape: [3], data: Float32Array.from(b1) }],
    ['2.weight', { dtype: 'F32', shape: [1, 3], data: Float32Array.from(w2) }], ['2.bias', { dtype: 'F32', shape: [1], data: Float32Array.from([0.7]) }],
  ]));
  const xv = [0.5, -1, 2], bv = [0, 0, 0];
  const hidden = (v: number[]) => [0, 1, 2].map((i) => W1[3 * i] * v[0] + W1[3 * i + 1] * v[1] + W1[3 * i + 2] * v[2] + b1[i]);
  const ax = hidden(xv), ab = hidden(bv), relu = (v: number) => Math.max(v, 0);
  const expect = [0, 1, 2].map((i) => w2[i] * (relu(ax[i]) - relu(ab[i])));
  await tidy(async () => {
    const x = fromArray(ctx, xv, [1, 3]);
    const opts = { target: 0, nSteps: 400, method: 'riemann_middle' as const };
    const lc = await (await new A.LayerConductance(mlp, '0').attribute(x, opts)).data();
    assertClose(lc, expect, 1e-2, 'conductance at the hidden layer');
    const lig = await (await new A.LayerIntegratedGradients(mlp, '1').attribute(x, opts)).data();
    assertClose(lig, expect, 1e-2, 'layer IG at the ReLU output');
    const [lig2, delta] = await new A.LayerIntegratedGradients(mlp, '2').attribute(x, { ...opts, attributeToLayerInput: true, returnConvergenceDelta: true });
    assertClose(await lig2.data(), expect, 1e-5, 'layer IG at the input of the last layer');
    if (Math.abs((await delta.data())[0]) > 1e-4) throw new Error(`delta ${await delta.data()}`);
  });
  mlp.release();
});

test('bad arguments are clear errors', async () => {
  const model = (await resnet18Seed0(await getGpu())).net;
  const x = await input64();
  const cases: [() => Promise<unknown>, string][] = [
    [() => new A.IntegratedGradients(model).attribute(x, { target: 281, method: 'simpson' as never }), "unknown integration method 'simpson'"],
    [() => new A.IntegratedGradients(model).attribute(x, { target: 1000 }), 'out of range'],
    [() => new A.IntegratedGradients(model).attribute(x, { target: [1, 2] }), 'one per example'],
    [() => new A.Occlusion(model).attribute(x, { target: 1, slidingWindowShapes: [15, 15] }), 'slidingWindowShapes must give 3 sizes'],
    [async () => new A.LayerGradCam(model, 'layer9.conv'), "no layer named 'layer9.conv'"],
    [() => new A.LayerGradCam(model, 'layer1.0.relu').attribute(x, { target: 1 }), 'ran 2 times'],
    [() => new A.IntegratedGradients(model).attribute(x, { target: 1, baselines: fromArray(x.ctx, [0, 0], [2]) }), 'do not match inputs'],
  ];
  for (const [fn, msg] of cases) {
    let got = '';
    try { await fn(); } catch (e) { got = (e as Error).message; }
    if (!got.includes(msg)) throw new Error(`expected '${msg}', got '${got}'`);
  }
  x.release();
});

test.run();
