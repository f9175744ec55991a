// The slow group: every key of the 224x224 ResNet-18, pretrained ResNet-50 and MobileNetV2 reference files,
// recomputed from their `input` and compared with relative max and L2 errors. Minutes on lavapipe.
import { suite } from 'uvu';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Tensor, fromArray, noGrad, tidy } from '../src/autograd/index.ts';
import * as A from '../src/attr/index.ts';
import type { Module } from '../src/nn/module.ts';
import { assertClose, getGpu, relL2Error, relMaxError } from './helpers.ts';
import { REF_DIR, ref, resnet18Seed0, resnet50Pretrained } from './refdata.ts';
import { loadOnnx } from '../src/nn/graph.ts';
import { parseSafetensors } from '../src/io/safetensors.ts';

const test = suite('reference 224');
const R18 = 'resnet18_chelsea_224.safetensors', R50 = 'resnet50_keras_chelsea_224.safetensors';

/**
 * Integrated Gradients at 224x224 sums gradients over 20 to 50 points of the path, and at some of them
 * a ReLU's input is within float32 rounding of zero (-2.1e-6 in float64 at layer4.1's output for
 * alpha = 0.072), so which side it falls on depends on the order of the additions. PyTorch's own
 * float32 and float64 gradients differ by up to 18% at such points, and PyTorch's own float64 IG is
 * 1.6e-3 (Gauss-Legendre 50) and 1.7e-3 (trapezoid 20 from a constant 0.5 image, all ties at its
 * first point) away from these float32 references, in relative max error. A float32 engine that does
 * not repeat MKL-DNN's summation order lands within a few 1e-3 (here 1.6e-3 and 4.4e-3), so that is
 * the tolerance for the 224 path methods; the 64x64 IG test holds 1e-3, and a real error shows far
 * above it (Captum's trapezoid weights, misread as 1/(n-1), gave 5.3e-2).
 */
const PATH_TOL = 5e-3;

async function check(file: string, key: string, run: () => Promise<Tensor | [Tensor, Tensor]>, tol = 1e-3): Promise<void> {
  await tidy(async () => {
    const r = await run();
    const attr = Array.isArray(r) ? r[0] : r;
    const want = ref(file, key);
    if (attr.shape.join() !== want.shape.join()) throw new Error(`${key}: shape [${attr.shape}] vs [${want.shape}]`);
    const got = await attr.data();
    console.log(`    ${key}: rel max ${relMaxError(got, want.data).toExponential(2)}, rel L2 ${relL2Error(got, want.data).toExponential(2)}`);
    assertClose(got, want.data, tol, key);
    if (Array.isArray(r)) {
      const d = await r[1].data(), dw = ref(file, `${key}_delta`).data;
      // The delta is a small difference of large numbers (|logit| ~ 40): compare it on the logits' scale.
      if (Math.abs(d[0] - dw[0]) > tol * 40) throw new Error(`${key}_delta: ${d[0]} vs ${dw[0]}`);
    }
  });
}

async function inputs(file: string, key = 'input'): Promise<Tensor> {
  const r = ref(file, key);
  return fromArray(await getGpu(), r.data, r.shape);
}

test('ResNet-18 224: gradients, Grad-CAM and layer methods', async () => {
  const m = (await resnet18Seed0(await getGpu())).net;
  const x = await inputs(R18), x2 = await inputs(R18, 'batch2_input');
  await check(R18, 'saliency', () => new A.Saliency(m).attribute(x, { target: 281 }));
  await check(R18, 'input_x_gradient', () => new A.InputXGradient(m).attribute(x, { target: 281 }));
  await check(R18, 'guided_backprop', () => new A.GuidedBackprop(m).attribute(x, { target: 281 }));
  await check(R18, 'gradcam_layer3.1.conv2', () => new A.LayerGradCam(m, 'layer3.1.conv2').attribute(x, { target: 281 }));
  await check(R18, 'gradcam_layer3.1.conv2_up_nearest', async () => A.LayerAttribution.interpolate(await new A.LayerGradCam(m, 'layer3.1.conv2').attribute(x, { target: 281 }), [224, 224]));
  await check(R18, 'gradcam_layer4.1.conv2_relu', () => new A.LayerGradCam(m, 'layer4.1.conv2').attribute(x, { target: 281, reluAttributions: true }));
  await check(R18, 'gradcam_layer4.1.conv2_relu_up_bilinear', async () => A.LayerAttribution.interpolate(await new A.LayerGradCam(m, 'layer4.1.conv2').attribute(x, { target: 281, reluAttributions: true }), [224, 224], 'bilinear'));
  await check(R18, 'guided_gradcam_layer4.1.conv2', () => new A.GuidedGradCam(m, 'layer4.1.conv2').attribute(x, { target: 281 }));
  await check(R18, 'layer_activation_layer1.0.bn2', () => new A.LayerActivation(m, 'layer1.0.bn2').attribute(x));
  await check(R18, 'layer_gxa_layer3.0.conv1', () => new A.LayerGradientXActivation(m, 'layer3.0.conv1').attribute(x, { target: 281 }));
  await check(R18, 'batch2_gradcam_layer3.1.conv2', () => new A.LayerGradCam(m, 'layer3.1.conv2').attribute(x2, { target: [281, 285] }));
  x.release(); x2.release();
});

test('ResNet-18 224: Integrated Gradients (Gauss-Legendre 50, internal batch 16, trapezoid 20 with baseline 0.5, batch of 2)', async () => {
  const m = (await resnet18Seed0(await getGpu())).net;
  const x = await inputs(R18), x2 = await inputs(R18, 'batch2_input');
  await check(R18, 'ig_gl50', () => new A.IntegratedGradients(m).attribute(x, { target: 281, nSteps: 50, returnConvergenceDelta: true }), PATH_TOL);
  await check(R18, 'ig_gl50_ibs16', () => new A.IntegratedGradients(m).attribute(x, { target: 281, nSteps: 50, internalBatchSize: 16 }), PATH_TOL);
  await check(R18, 'ig_trap20_base05', () => new A.IntegratedGradients(m).attribute(x, { target: 281, nSteps: 20, method: 'riemann_trapezoid', baselines: 0.5 }), PATH_TOL);
  await check(R18, 'batch2_ig_gl25', () => new A.IntegratedGradients(m).attribute(x2, { target: [281, 285], nSteps: 25 }), PATH_TOL);
  x.release(); x2.release();
});

test('ResNet-18 224: Occlusion 3x15x15, stride 3x8x8', async () => {
  const m = (await resnet18Seed0(await getGpu())).net;
  const x = await inputs(R18);
  await check(R18, 'occlusion_w15_s8', () => new A.Occlusion(m).attribute(x, { target: 281, slidingWindowShapes: [3, 15, 15], strides: [3, 8, 8], baselines: 0 }));
  x.release();
});

test('pretrained ResNet-50: Grad-CAM, Integrated Gradients, Occlusion', async () => {
  const m: Module = (await resnet50Pretrained(await getGpu())).net;
  const x = await inputs(R50);
  await check(R50, 'gradcam_layer4.2.conv3', () => new A.LayerGradCam(m, 'layer4.2.conv3').attribute(x, { target: 285 }));
  await check(R50, 'gradcam_layer3.1.conv2', () => new A.LayerGradCam(m, 'layer3.1.conv2').attribute(x, { target: 285 }));
  await check(R50, 'ig_gl50', () => new A.IntegratedGradients(m).attribute(x, { target: 285, nSteps: 50, returnConvergenceDelta: true }), PATH_TOL);
  await check(R50, 'occlusion_w15_s8', () => new A.Occlusion(m).attribute(x, { target: 285, slidingWindowShapes: [3, 15, 15], strides: [3, 8, 8], baselines: 0 }));
  x.release();
});

/**
 * MobileNetV2 at 224 from ONNX. Its gradients are ill-conditioned in float32: a handful of the last
 * layers' ReLU6 inputs lie within rounding of 0 or 6, so which side they fall on decides part of the
 * gradient. PyTorch's own float32 Grad-CAM and Saliency are 1.7e-2 and 1.5e-2 (relative L2) from its
 * float64 ones, a 1e-6 relative change of the input moves its Saliency by 5e-2, and Captum's IG-50
 * reference is 1.05e-2 from PyTorch's own float32 IG on this machine. Glimpse lands closer to float64
 * than PyTorch's float32 does (1.3e-2 and 1.3e-2), so these methods are held at 3e-2; the forward and
 * Occlusion (differences of logits) hold the usual tolerances.
 */
const MNV2 = 'models/mobilenet_v2_chelsea_224.safetensors', MNV2_TOL = 3e-2;

test('MobileNetV2 224 (ONNX): logits, Grad-CAM, Integrated Gradients (Gauss-Legendre 50, internal batch 16), Occlusion 3x15x15', async () => {
  const ctx = await getGpu();
  const m = loadOnnx(ctx, new Uint8Array(readFileSync(join(REF_DIR, 'models', 'mobilenet_v2_seed0.onnx'))), { what: 'mobilenet_v2_seed0.onnx' });
  const meta = parseSafetensors(new Uint8Array(readFileSync(join(REF_DIR, MNV2)))).metadata;
  const target = Number(meta.target);
  const x = await inputs(MNV2);
  await check(MNV2, 'logits', async () => noGrad(() => m.call(x)), 1e-4);
  await check(MNV2, 'gradcam', () => new A.LayerGradCam(m, meta.gradcam_layer).attribute(x, { target }), MNV2_TOL);
  await check(MNV2, 'ig_gl50', () => new A.IntegratedGradients(m).attribute(x, { target, nSteps: 50, internalBatchSize: 16 }), MNV2_TOL);
  await check(MNV2, 'occlusion_w15_s8', () => new A.Occlusion(m).attribute(x, { target, slidingWindowShapes: [3, 15, 15], strides: [3, 8, 8], baselines: 0, perturbationsPerEval: 16 }));
  x.release();
  m.release();
});

test.run();
