// Discrete decisions made as PyTorch and Captum make them: tied maxima, ReLU at 0, NaN, top-1 ties,
// Occlusion at the border; and a photo with saturated regions (hundreds of tied max-pool windows)
// and a NaN pixel through ResNet-18 against PyTorch (test/fixtures/make_saturated.py).
import { suite } from 'uvu';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ops from '../src/autograd/index.ts';
import { fromArray, grad, tidy } from '../src/autograd/index.ts';
import * as A from '../src/attr/index.ts';
import { argmax } from '../src/attr/common.ts';
import { parseSafetensors } from '../src/io/safetensors.ts';
import { assertClose, getGpu, gpuTensor } from './helpers.ts';
import { resnet18Seed0 } from './refdata.ts';

const test = suite('fidelity');
const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'saturated_64.safetensors');
const same = (got: ArrayLike<number>, want: number[], what: string) => {
  const g = Array.from(got, (v) => (Number.isNaN(v) ? 'NaN' : String(v))).join(), w = want.map((v) => (Number.isNaN(v) ? 'NaN' : String(v))).join();
  if (g !== w) throw new Error(`${what}: got [${g}], want [${w}]`);
};

test('max pool: tied maxima route to the first in row-major order, a NaN wins (the last of a window), padding never wins', async () => {
  await tidy(async () => {
    // One 3x3 window over a constant map: every input ties; the first (0, 0) wins.
    const c = await gpuTensor(new Array(9).fill(2), [1, 1, 3, 3], true);
    const [gc] = grad(ops.maxPool2d(c, { kernelSize: 3 }), [c], await gpuTensor([1], [1, 1, 1, 1]));
    same(await gc.data(), [1, 0, 0, 0, 0, 0, 0, 0, 0], 'constant map');
    // Two equal maxima at known places: (0, 2) before (2, 0); a larger value later still wins.
    const t = await gpuTensor([1, 0, 7, 0, 3, 0, 7, 0, 1, /* second plane */ 5, 5, 0, 0, 6, 0, 6, 0, 0], [1, 2, 3, 3], true);
    const yt = ops.maxPool2d(t, { kernelSize: 3 });
    same(await yt.data(), [7, 6], 'tied maxima values');
    const [gt] = grad(yt, [t], await gpuTensor([1, 10], [1, 2, 1, 1]));
    same(await gt.data(), [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0], 'tied maxima gradient');
    // NaN wins over any number, and the last NaN of a window wins (PyTorch's CPU kernel).
    const n = await gpuTensor([1, NaN, 3, NaN, 2, 5, 5, 1], [1, 2, 2, 2], true);
    const yn = ops.maxPool2d(n, { kernelSize: 2 });
    same(await yn.data(), [NaN, 5], 'NaN window');
    const [gn] = grad(yn, [n], await gpuTensor([1, 1], [1, 2, 1, 1]));
    same(await gn.data(), [0, 0, 0, 1, 0, 1, 0, 0], 'NaN window gradient');
    // With padding 1 on a map of negative equal values: the padded -inf never wins, the first real one does.
    const p = await gpuTensor([-1, -1, -1, -1], [1, 1, 2, 2], true);
    const yp = ops.maxPool2d(p, { kernelSize: 3, stride: 2, padding: 1 });
    same(await yp.data(), [-1], 'padded window');
    const [gp] = grad(yp, [p], await gpuTensor([1], [1, 1, 1, 1]));
    same(await gp.data(), [1, 0, 0, 0], 'padded window gradient');
  });
});

test('ReLU: no gradient at 0 or below; NaN passes forward and backward (threshold_backward), in every form', async () => {
  const ctx = await getGpu();
  await tidy(async () => {
    const x = await gpuTensor([-1, 0, 2, NaN], [4], true);
    const y = ops.relu(x);
    same(await y.data(), [0, 0, 2, NaN], 'relu forward');
    const [g] = grad(y, [x], await gpuTensor([5, 5, 5, 5], [4]));
    same(await g.data(), [0, 0, 5, 5], 'relu backward');
    // BatchNorm + ReLU in one kernel (channelAffine), vec4 and scalar lengths.
    for (const len of [4, 3]) {
      const v = [NaN, -2, 0, 3].slice(0, len);
      const xb = await gpuTensor(v, [1, 1, 1, len], true);
      const yb = ops.channelAffine(xb, fromArray(ctx, [1], [1]), fromArray(ctx, [0], [1]), 'relu');
      same(await yb.data(), v.map((a) => (Number.isNaN(a) ? NaN : Math.max(a, 0))), `channelAffine relu forward (${len})`);
      const [gb] = grad(yb, [xb], await gpuTensor(new Array(len).fill(3), [1, 1, 1, len]));
      same(await gb.data(), v.map((a) => (a <= 0 ? 0 : 3)), `channelAffine relu backward (${len})`);
    }
    // A convolution's fused ReLU epilogue.
    const xc = fromArray(ctx, [NaN, -1, 0, 4], [1, 1, 2, 2]);
    const yc = ops.conv2dAffine(xc, fromArray(ctx, [1], [1, 1, 1, 1]), null, {}, fromArray(ctx, [1], [1]), fromArray(ctx, [0], [1]), { activation: 'relu' });
    same(await yc.data(), [NaN, 0, 0, 4], 'conv epilogue relu');
  });
});

test('top-1: the first of tied maxima, and the first NaN, as torch.argmax', async () => {
  same([argmax([1, 3, 3, 2]), argmax([NaN, 1]), argmax([1, NaN, 5, NaN]), argmax([-Infinity, -Infinity])], [1, 0, 1, 0], 'argmax');
  const ctx = await getGpu();
  await tidy(async () => {
    // Saliency without a target explains the top-1: with tied logits, the first; its gradient is one-hot.
    const w = fromArray(ctx, [1, 0, 0, 1, 1, 0], [3, 2]);
    const x = fromArray(ctx, [2, 2], [1, 2]);
    same(await (await new A.Saliency((t) => ops.linear(t, w)).attribute(x, { abs: false })).data(), [1, 0], 'top-1 of tied logits');
  });
});

test('Occlusion at the border: the last window is cropped; positions no window covers are NaN (0 / 0), as Captum', async () => {
  const ctx = await getGpu();
  await tidy(async () => {
    const w = fromArray(ctx, [1, 2, 3, 4, 5], [1, 5]);
    const x = fromArray(ctx, [1, 1, 1, 1, 1], [1, 5]);
    // Windows of 2 with stride 2: ceil((5 - 2) / 2) + 1 = 3 of them, the last cropped at the border to index 4.
    const attr = await (await new A.Occlusion((t) => ops.linear(t, w)).attribute(x, { target: 0, slidingWindowShapes: [2], strides: [2] })).data();
    same(attr, [3, 3, 7, 7, 5], 'window 2, stride 2');
    // Stride 3 with window 2 skips index 2 in the middle and covers 3-4.
    const attr3 = await (await new A.Occlusion((t) => ops.linear(t, w)).attribute(x, { target: 0, slidingWindowShapes: [2], strides: [3] })).data();
    same(attr3, [3, 3, NaN, 9, 9], 'window 2, stride 3');
  });
});

test('a photo with saturated regions through ResNet-18 (64x64, 382 tied max-pool windows): Saliency, InputXGradient, GuidedBackprop, IG as PyTorch', async () => {
  const ctx = await getGpu();
  const { tensors, metadata } = parseSafetensors(new Uint8Array(readFileSync(FIXTURE)), FIXTURE);
  const ref = (k: string) => tensors.get(k)!.data as Float32Array;
  const target = Number(metadata.target);
  const model = await resnet18Seed0(ctx);
  await tidy(async () => {
    const x = fromArray(ctx, ref('input'), [1, 3, 64, 64]);
    assertClose(await model.net.call(x).data(), ref('logits'), 1e-4, 'logits');
    assertClose(await (await new A.Saliency(model.net).attribute(x, { target, abs: false })).data(), ref('saliency_noabs'), 1e-3, 'Saliency (abs off)');
    assertClose(await (await new A.InputXGradient(model.net).attribute(x, { target })).data(), ref('input_x_gradient'), 1e-3, 'InputXGradient');
    assertClose(await (await new A.GuidedBackprop(model.net).attribute(x, { target })).data(), ref('guided_backprop'), 1e-3, 'GuidedBackprop');
    assertClose(await (await new A.IntegratedGradients(model.net).attribute(x, { target, nSteps: 16 })).data(), ref('ig_gl16'), 1e-3, 'IG');
  });
});

test('a NaN pixel: NaN logits as torchvision, and PyTorch\'s (finite) input gradient', async () => {
  const ctx = await getGpu();
  const { tensors, metadata } = parseSafetensors(new Uint8Array(readFileSync(FIXTURE)), FIXTURE);
  const ref = (k: string) => tensors.get(k)!.data as Float32Array;
  const model = await resnet18Seed0(ctx);
  await tidy(async () => {
    const x = fromArray(ctx, ref('nan_input'), [1, 3, 64, 64]);
    const logits = await model.net.call(x).data();
    if (!logits.every(Number.isNaN) || !ref('nan_logits').every(Number.isNaN)) throw new Error('a NaN input must give NaN logits');
    assertClose(await (await new A.Saliency(model.net).attribute(x, { target: Number(metadata.target), abs: false })).data(), ref('nan_saliency_noabs'), 1e-3, 'Saliency of a NaN input');
  });
});

test.run();
