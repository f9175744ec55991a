import { suite } from 'uvu';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { convSettings, fromArray, grad, noGrad, selectTargets, tidy } from '../src/autograd/index.ts';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.ts';
import { readImage } from '../src/io/image-decode.ts';
import { preprocessImage } from '../src/io/image.ts';
import { readStateDict } from '../src/io/weights.ts';
import { ResNet } from '../src/nn/resnet.ts';
import { assertClose, getGpu, randoms } from './helpers.ts';
import { boxWindows, boxedForward, canBox } from '../src/nn/boxed.ts';
import { type WinogradTile, winograd } from '../src/autograd/ops/winograd.ts';
import type { StateDict } from '../src/io/host-tensor.ts';
import { REF_DIR, ref, resnet18Seed0, resnet50Pretrained } from './refdata.ts';

const test = suite('resnet');

async function logits(model: Awaited<ReturnType<typeof resnet18Seed0>>, file: string): Promise<Float32Array> {
  const ctx = await getGpu();
  const input = ref(file, 'input');
  return tidy(async () => noGrad(() => model.net.call(fromArray(ctx, input.data, input.shape))).data());
}

test('ResNet-18 (.pth) logits match PyTorch at 64x64 and 224x224', async () => {
  const model = await resnet18Seed0(await getGpu());
  for (const f of ['resnet18_chelsea_64.safetensors', 'resnet18_chelsea_224.safetensors']) {
    assertClose(await logits(model, f), ref(f, 'logits').data, 1e-3, `${f} logits`);
  }
});

test('a safetensors copy of the .pth weights gives identical tensors', async () => {
  const { tensors } = await readStateDict(join(REF_DIR, 'resnet18_seed0.pth'));
  const back = parseSafetensors(serializeSafetensors(tensors)).tensors;
  if (back.size !== tensors.size) throw new Error(`${back.size} vs ${tensors.size} tensors`);
  for (const [k, t] of tensors) {
    const u = back.get(k)!;
    if (u.dtype !== t.dtype || u.shape.join() !== t.shape.join() || u.data.length !== t.data.length || u.data.some((v, i) => v !== t.data[i])) {
      throw new Error(`tensor ${k} differs after the round trip`);
    }
  }
  if (!back.has('bn1.num_batches_tracked') || back.get('bn1.num_batches_tracked')!.dtype !== 'I64') throw new Error('I64 entries must survive');
});

test('preprocessing of chelsea.png matches torchvision (Resize 256 / 64, CenterCrop, ToTensor)', () => {
  const img = readImage(join(REF_DIR, 'images', 'chelsea.png'));
  for (const [f, s, c] of [['resnet18_chelsea_224.safetensors', 256, 224], ['resnet18_chelsea_64.safetensors', 64, 64]] as const) {
    const want = ref(f, 'image').data, got = preprocessImage(img, { resize: s, crop: c });
    let d = 0;
    for (let i = 0; i < want.length; i++) d += Math.abs(got[i] - want[i]);
    if (!(d / want.length < 1 / 255)) throw new Error(`${f}: mean absolute difference ${d / want.length}`);
  }
});

test('pretrained ResNet-50 reproduces the reference logits and top-5', async () => {
  const f = 'resnet50_keras_chelsea_224.safetensors';
  const model = await resnet50Pretrained(await getGpu());
  const got = await logits(model, f);
  assertClose(got, ref(f, 'logits').data, 1e-3, 'ResNet-50 logits');
  const top5 = [...got.keys()].sort((a, b) => got[b] - got[a]).slice(0, 5);
  const want = [...(parseSafetensors(new Uint8Array(readFileSync(join(REF_DIR, f)))).tensors.get('top5')!.data as BigInt64Array)].map(Number);
  if (top5.join() !== want.join()) throw new Error(`top-5 ${top5} vs ${want}`);
  if (model.classes[285] !== 'Egyptian cat') throw new Error('class names out of order');
});

test('layers are addressed by dotted names; a missing one is a clear error', () => {
  const net = new ResNet('resnet50', 'v1');
  for (const n of ['layer3.1.conv2', 'layer4.0.downsample.0', 'fc', 'layer1.2.bn3']) net.get(n);
  let msg = '';
  try { net.get('layer3.9.conv2'); } catch (e) { msg = (e as Error).message; }
  if (!msg.includes("no layer named 'layer3.9.conv2'") || !msg.includes('layer3.1.conv2')) throw new Error(msg);
});

test("every architecture has torchvision's state_dict keys", () => {
  // Key counts of torchvision's resnet18/34/50/101/152 state_dicts, num_batches_tracked included.
  const want: Record<string, number> = { resnet18: 122, resnet34: 218, resnet50: 320, resnet101: 626, resnet152: 932 };
  for (const [arch, n] of Object.entries(want)) {
    const keys = new ResNet(arch as 'resnet18').expectedKeys();
    if (keys.size !== n) throw new Error(`${arch}: ${keys.size} keys, torchvision has ${n}`);
  }
  const r101 = new ResNet('resnet101').expectedKeys();
  if (r101.get('layer3.22.conv3.weight')?.shape.join() !== '1024,256,1,1' || r101.get('fc.weight')?.shape.join() !== '1000,2048') throw new Error('resnet101 shapes');
});

test('v1 strides in the 1x1 conv, v1.5 in the 3x3', () => {
  const v1 = new ResNet('resnet50', 'v1'), v15 = new ResNet('resnet50', 'v1.5');
  const stride = (n: ResNet, l: string) => ((n.get(l) as unknown as { options: { stride?: number } }).options.stride ?? 1);
  if (stride(v1, 'layer2.0.conv1') !== 2 || stride(v1, 'layer2.0.conv2') !== 1) throw new Error('v1');
  if (stride(v15, 'layer2.0.conv1') !== 1 || stride(v15, 'layer2.0.conv2') !== 2) throw new Error('v1.5');
});

test('strict loading lists missing, unexpected and mis-shaped keys in one error', async () => {
  const { tensors } = await readStateDict(join(REF_DIR, 'resnet18_seed0.pth'));
  const broken = new Map(tensors);
  broken.delete('layer1.0.conv1.weight');
  broken.set('extra.weight', tensors.get('fc.bias')!);
  broken.set('fc.bias', { dtype: 'F32', shape: [10], data: new Float32Array(10) });
  let msg = '';
  try { new ResNet('resnet18').loadStateDict(await getGpu(), broken); } catch (e) { msg = (e as Error).message; }
  for (const s of ['missing (1): layer1.0.conv1.weight', 'unexpected (1): extra.weight', 'fc.bias: file [10], model [1000]']) {
    if (!msg.includes(s)) throw new Error(`error lacks '${s}': ${msg}`);
  }
});

/** Random weights at unit scale for any architecture (BatchNorm with positive variances). */
function randomWeights(net: ResNet, seed: number): StateDict {
  const out: StateDict = new Map();
  let k = seed;
  for (const [name, { shape }] of net.expectedKeys()) {
    if (name.endsWith('num_batches_tracked')) continue;
    const n = shape.reduce((a, b) => a * b, 1), fanIn = shape.length === 4 ? shape[1] * shape[2] * shape[3] : shape.length === 2 ? shape[1] : 1;
    const r = randoms(n, k++);
    const data = name.endsWith('running_var') ? Float32Array.from(r, (v) => 1 + 0.5 * v) : Float32Array.from(r, (v) => (shape.length > 1 ? v * Math.sqrt(3 / fanIn) : 0.1 * v));
    out.set(name, { dtype: 'F32', shape, data });
  }
  return out;
}

test('fused conv + BatchNorm (+ residual + ReLU) epilogues give the bits of the layers apart: logits and input gradients, with and without hooks', async () => {
  const ctx = await getGpu();
  const r18 = (await resnet18Seed0(ctx)).net, r50 = new ResNet('resnet50', 'v1.5');
  r50.loadStateDict(ctx, randomWeights(r50, 300));
  for (const [name, net] of [['resnet18', r18], ['resnet50', r50]] as const) {
    const run = (epilogue: 'auto' | 'off') => tidy(async () => {
      convSettings.epilogue = epilogue;
      try {
        const x = fromArray(ctx, Float32Array.from(randoms(2 * 3 * 64 * 64, 31)), [2, 3, 64, 64]);
        x.requiresGrad = true;
        const y = net.call(x);
        const [gx] = grad(selectTargets(y, [1, 7]), [x]);
        return [await y.data(), await gx.data()];
      } finally {
        convSettings.epilogue = 'auto';
      }
    });
    const check = (what: string, a: Float32Array[], b: Float32Array[]) => a.forEach((u, p) => {
      const at = u.findIndex((v, i) => v !== b[p][i]);
      if (at >= 0) throw new Error(`${name} ${what} ${p ? 'input gradient' : 'logits'}: element ${at} differs: ${u[at]} vs ${b[p][at]}`);
    });
    const apart = await run('off');
    check('fused', await run('auto'), apart);
    // A hook on a convolution (its output must exist: Grad-CAM) or on a BatchNorm splits the step; same bits.
    for (const layer of ['layer2.0.conv1', 'layer3.1.bn2', 'layer2.0.downsample']) {
      const remove = net.get(layer).registerForwardHook(() => undefined);
      try {
        check(`hook on ${layer}`, await run('auto'), apart);
      } finally {
        remove();
      }
    }
  }
});

test('the receptive-field forward gives the full forward\'s logits bit for bit (basic and bottleneck blocks, v1 and v1.5)', async () => {
  const ctx = await getGpu();
  const seeded = (await resnet18Seed0(ctx)).net;
  // The last entry: forward Winograd tile (0: direct; with F(2x2) the boxes follow its tile grid).
  const cases: [string, ResNet, number, number, number, WinogradTile][] = [
    ['resnet18 seed0', seeded, 64, 8, 8, 0], ['resnet18 seed0', seeded, 96, 15, 7, 0], ['resnet18 seed0', seeded, 64, 8, 8, 2], ['resnet18 seed0', seeded, 96, 15, 7, 2],
  ];
  for (const variant of ['v1', 'v1.5'] as const) {
    const net = new ResNet('resnet50', variant);
    net.loadStateDict(ctx, randomWeights(net, variant === 'v1' ? 100 : 200));
    cases.push([`resnet50 ${variant}`, net, 64, 9, 12, variant === 'v1' ? 0 : 2]);
  }
  const forwardTile = winograd.forwardTile;
  for (const [name, net, S, wh, ww, tile] of cases) {
    winograd.forwardTile = tile;
    await tidy(async () => {
      const per = 3 * S * S, xv = Float32Array.from(randoms(per, 5));
      // Corners, borders and the middle: boxes that the layers must move inside the map.
      const at = [[0, 0], [S - wh, S - ww], [1, S - ww], [S - wh, 2], [Math.floor(S / 2) - 3, Math.floor(S / 3)], [7, 9]];
      const B = at.length, full = new Float32Array(B * per), boxes = new Int32Array(2 * B);
      at.forEach(([y0, x0], b) => {
        full.set(xv, b * per);
        boxes.set([y0, x0], 2 * b);
        for (let c = 0; c < 3; c++) for (let y = 0; y < wh; y++) for (let x = 0; x < ww; x++) full[b * per + (c * S + y0 + y) * S + x0 + x] = 0.3 * c - 0.4;
      });
      const base = fromArray(ctx, xv, [1, 3, S, S]), batch = fromArray(ctx, full, [B, 3, S, S]);
      const patch = boxWindows({ base, patch: batch, boxes: new Int32Array(2 * B) }, boxes, wh, ww);
      const want = await noGrad(() => net.call(batch)).data();
      const got = await noGrad(() => boxedForward(net, { base, patch, boxes })).data();
      const differ = want.filter((v, i) => v !== got[i]).length;
      if (differ) throw new Error(`${name} at ${S}x${S}, box ${wh}x${ww}, forward tile ${tile}: ${differ} of ${want.length} logits differ`);
      // The batch differs from the base: the test would not pass by returning the base's logits.
      const baseLogits = await noGrad(() => net.call(base)).data();
      if (want.subarray(0, baseLogits.length).every((v, i) => v === baseLogits[i])) throw new Error(`${name}: the perturbation changes nothing`);
    }).finally(() => { winograd.forwardTile = forwardTile; });
  }
  // F(4x4) Winograd outputs depend on their whole tile: Occlusion must then take the full forward.
  winograd.forwardTile = 4;
  try {
    if (canBox(seeded)) throw new Error('canBox accepts F(4x4) Winograd');
  } finally {
    winograd.forwardTile = forwardTile;
  }
  if (!canBox(seeded)) throw new Error('canBox refuses a plain ResNet');
});

test.run();
