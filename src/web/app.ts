/**
 * Glimpse as a static page (npm run build:web): open or drop a photo, and optionally an .onnx
 * classifier; see its top-5 classes; explain one with Integrated Gradients, Saliency, Occlusion or
 * Grad-CAM (Captum's arguments, the explorer's method catalogue) on this browser's WebGPU; draw it as
 * Captum's visualize_image_attr does; download the attributions (.safetensors) and the figure (PNG).
 * The pretrained ResNet-50 is the file beside the page, kept in the browser's cache after the first
 * visit. Nothing leaves the browser.
 */
import { type Tensor, fromArray, noGrad, softmax, tidy } from '../autograd/index.ts';
import type { GpuContext } from '../gpu/device.ts';
import { createWebGpu } from '../gpu/web.ts';
import { f32 } from '../io/host-tensor.ts';
import { type RgbImage, normalizedInput, preprocessImage } from '../io/image.ts';
import { serializeSafetensors } from '../io/safetensors.ts';
import { stateDictFromBytes } from '../io/state-dict.ts';
import { VISUALIZE_METHODS, VISUALIZE_SIGNS, type VisualizeMethod, type VisualizeSign, visualizeImageAttr } from '../io/visualize.ts';
import { loadOnnx, type GraphModel } from '../nn/graph.ts';
import { type Classifier, buildClassifier, graphClassifier } from '../nn/model.ts';
import { type ArgumentValues, describeMethods, findMethod, layersWhoseOutput, runMethod, validateArguments } from '../insights/methods.ts';
import { checkedArguments, renderArgumentInputs, toCanvas } from '../insights/page/widgets.ts';

const METHODS = ['IntegratedGradients', 'Saliency', 'Occlusion', 'LayerGradCam'];
const PRETRAINED = 'resnet50-imagenet.safetensors';
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

let ctx: GpuContext;
let imagenet: string[] = [];
let model: (Classifier & { name: string; layers: string[] }) | null = null;
let photo: RgbImage | null = null;
/** The photo resized and cropped for the model, [3, S, S] in [0, 1]: made once per photo and preprocessing (predict). */
let shown: Float32Array | null = null;
let result: { data: Float32Array; shape: number[]; method: string; target: number; args: ArgumentValues; delta: number | null } | null = null;
let busy = false;

function showError(message: string | null): void {
  $('error').hidden = message === null;
  $('error').textContent = message ?? '';
}

function progress(text: string | null, done?: number, total?: number): void {
  $('status').hidden = text === null;
  $('status-text').textContent = text ?? '';
  const bar = $<HTMLProgressElement>('progress');
  if (done !== undefined && total) { bar.max = total; bar.value = done; } else bar.removeAttribute('value');
}

/** Runs one piece of work at a time, with its label on the status line and its error on the page. */
async function work(label: string, fn: () => Promise<void>): Promise<void> {
  if (busy) return;
  busy = true;
  showError(null);
  progress(label);
  $<HTMLButtonElement>('explain').disabled = true;
  try {
    await fn();
  } catch (e) {
    showError((e as Error).message);
  } finally {
    busy = false;
    progress(null);
    $<HTMLButtonElement>('explain').disabled = !(model && photo);
  }
}

/** A file beside the page, through the browser's Cache Storage when it has one; null when the server has none. */
async function fetchCached(url: string, label: string): Promise<Uint8Array | null> {
  const cache = typeof caches === 'undefined' ? null : await caches.open('glimpse-v1').catch(() => null);
  const hit = await cache?.match(url);
  if (hit) return new Uint8Array(await hit.arrayBuffer());
  const res = await fetch(url);
  if (!res.ok) return null;
  const total = Number(res.headers.get('content-length')) || 0, parts: Uint8Array[] = [];
  let got = 0;
  for (const reader = res.body!.getReader(); ;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    got += value.length;
    progress(`${label}: ${(got / 1e6).toFixed(0)} MB`, got, total);
  }
  const bytes = new Uint8Array(got);
  parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
  await cache?.put(url, new Response(bytes, { headers: { 'content-type': 'application/octet-stream' } })).catch(() => {});
  return bytes;
}

/** A browser-decoded image as RGB bytes (no colour-space conversion, alpha dropped as PIL's convert('RGB')). */
async function decodeImage(blob: Blob): Promise<RgbImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new Error('this file is not an image the browser can decode (PNG or JPEG)');
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height), g = canvas.getContext('2d')!;
  g.drawImage(bitmap, 0, 0);
  const rgba = g.getImageData(0, 0, bitmap.width, bitmap.height).data, data = new Uint8Array(bitmap.width * bitmap.height * 3);
  for (let i = 0; i < bitmap.width * bitmap.height; i++) data.set(rgba.subarray(i * 4, i * 4 + 3), i * 3);
  return { width: bitmap.width, height: bitmap.height, data };
}

/** The model's input for the photo, [1, 3, S, S]: `shown`, normalized. */
function input(): Tensor {
  const p = model!.card.preprocessing;
  return fromArray(ctx, normalizedInput(shown!, p), [1, 3, p.crop, p.crop]);
}

function renderMethods(): void {
  const args = describeMethods(model?.layers ?? [], 'image').find((m) => m.name === $<HTMLSelectElement>('method').value)!.arguments;
  renderArgumentInputs($('arguments'), args);
}

async function useModel(make: () => Promise<Classifier>, name: string): Promise<void> {
  const m = await make();
  const crop = m.card.preprocessing.crop;
  const layers = tidy(() => layersWhoseOutput(m.net, fromArray(ctx, new Float32Array(3 * crop * crop), [1, 3, crop, crop]), (y) => y.rank === 4));
  model = { ...m, name, layers };
  result = null;
  const p = m.card.preprocessing;
  $('model-info').textContent = `${name}: ${m.classes.length} classes, ${crop}x${crop} input (resize ${p.resize})`;
  $('sizes').hidden = m.card.arch !== 'onnx';
  $<HTMLInputElement>('size').value = String(crop);
  $<HTMLInputElement>('resize').value = String(p.resize);
  renderMethods();
  if (photo) await predict();
}

async function openOnnx(file: File): Promise<void> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  await useModel(async () => graphClassifier(loadOnnx(ctx, bytes, { what: file.name }), {}, imagenet, file.name), file.name);
}

/** An ONNX model's new size or resize: the same graph, another preprocessing. */
async function resize(): Promise<void> {
  if (model?.card.arch !== 'onnx') return;
  const size = Number($<HTMLInputElement>('size').value), resizeTo = Number($<HTMLInputElement>('resize').value);
  if (!(Number.isInteger(size) && size >= 8 && Number.isInteger(resizeTo) && resizeTo >= size)) throw new Error(`size must be an integer of at least 8 and resize at least size; got ${size} and ${resizeTo}`);
  await useModel(async () => graphClassifier(model!.net as GraphModel, { size, resize: resizeTo }, imagenet, model!.name), model.name);
}

async function openImage(blob: Blob): Promise<void> {
  photo = await decodeImage(blob);
  result = null;
  $('figure').replaceChildren();
  if (model) await predict();
}

async function predict(): Promise<void> {
  const S = model!.card.preprocessing.crop, view = (shown = preprocessImage(photo!, model!.card.preprocessing));
  const top = await tidy(async () => {
    const probs = await noGrad(() => softmax(model!.net.call(input()))).data();
    return [...probs.keys()].sort((a, b) => probs[b] - probs[a]).slice(0, 5).map((i) => ({ i, p: probs[i] }));
  });
  $('photo').replaceChildren(toCanvas({ width: S, height: S, data: Uint8Array.from({ length: S * S * 3 }, (_, k) => Math.round(view[(k % 3) * S * S + Math.floor(k / 3)] * 255)) }));
  $('top5').replaceChildren(...top.map(({ i, p }) => {
    const li = document.createElement('li'), b = document.createElement('button');
    b.type = 'button';
    b.dataset.class = String(i);
    b.textContent = `${i} ${model!.classes[i]} ${p.toFixed(4)}`;
    b.onclick = () => { $<HTMLInputElement>('target').value = String(i); markTarget(); };
    li.append(b);
    return li;
  }));
  $<HTMLInputElement>('target').value = String(top[0].i);
  markTarget();
}

function markTarget(): void {
  for (const b of $('top5').querySelectorAll('button')) b.classList.toggle('chosen', b.dataset.class === $<HTMLInputElement>('target').value);
}

async function explain(): Promise<void> {
  if (!model || !photo || !shown) throw new Error('open an image first');
  const name = $<HTMLSelectElement>('method').value, spec = findMethod(name, 'image');
  const args = checkedArguments($('arguments'), (v) => validateArguments(spec, v, model!.layers, 'image'));
  const target = Number($<HTMLInputElement>('target').value);
  if (!(Number.isInteger(target) && target >= 0 && target < model.classes.length)) throw new Error(`target must be a class index from 0 to ${model.classes.length - 1}`);
  const out = await tidy(async () => runMethod(spec, input(), target, args, {
    net: model!.net, layers: model!.layers, baseline: undefined,
    onProgress: (done, total) => progress(`${spec.label}: ${done} of ${total}`, done, total),
  }));
  result = { ...out, method: name, target, args };
  drawFigure();
}

function drawFigure(): void {
  if (!result || !model || !shown) return;
  const S = model.card.preprocessing.crop;
  const fig = visualizeImageAttr({ data: result.data, shape: result.shape }, { data: shown, shape: [3, S, S] }, {
    method: $<HTMLSelectElement>('viz').value as VisualizeMethod, sign: $<HTMLSelectElement>('sign').value as VisualizeSign,
    outlierPerc: Number($<HTMLInputElement>('outlier').value), title: `${result.method} (class ${result.target})`,
  });
  $('figure').replaceChildren(toCanvas(fig));
  $('result-info').textContent = `${result.method} ${JSON.stringify(result.args)}, target ${result.target} (${model.classes[result.target]})${result.delta === null ? '' : `, convergence delta ${result.delta.toExponential(2)}`}`;
  $<HTMLButtonElement>('download-attr').disabled = $<HTMLButtonElement>('download-png').disabled = false;
}

function download(blob: Blob, name: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

function setUp(): void {
  const options = (id: string, values: readonly string[], chosen: string) => $<HTMLSelectElement>(id).replaceChildren(...values.map((v) => new Option(v, v, v === chosen, v === chosen)));
  options('method', METHODS, 'IntegratedGradients');
  options('viz', VISUALIZE_METHODS.filter((m) => m !== 'original_image'), 'blended_heat_map');
  options('sign', VISUALIZE_SIGNS, 'absolute_value');
  $<HTMLSelectElement>('method').onchange = renderMethods;
  for (const id of ['viz', 'sign', 'outlier']) $(id).onchange = () => { try { drawFigure(); } catch (e) { showError((e as Error).message); } };
  $('target').oninput = markTarget;
  $<HTMLFormElement>('controls').onsubmit = (ev) => { ev.preventDefault(); void work('computing', explain); };
  $<HTMLInputElement>('image').onchange = (ev) => { const f = (ev.target as HTMLInputElement).files?.[0]; if (f) void work(`reading ${f.name}`, () => openImage(f)); };
  $<HTMLInputElement>('model').onchange = (ev) => { const f = (ev.target as HTMLInputElement).files?.[0]; if (f) void work(`loading ${f.name}`, () => openOnnx(f)); };
  for (const id of ['size', 'resize']) $(id).onchange = () => void work('resizing', resize);
  $('download-attr').onclick = () => result && download(new Blob([serializeSafetensors({ attributions: f32(result.shape, result.data) }, {
    method: result.method, arguments: JSON.stringify(result.args), target: String(result.target), model: model?.name ?? '',
  }) as Uint8Array<ArrayBuffer>]), 'attributions.safetensors');
  $('download-png').onclick = () => $('figure').querySelector('canvas')?.toBlob((b) => b && download(b, 'figure.png'), 'image/png');
  // Drop an image or a model anywhere.
  document.body.ondragover = (ev) => { ev.preventDefault(); document.body.classList.add('dragging'); };
  document.body.ondragleave = () => document.body.classList.remove('dragging');
  document.body.ondrop = (ev) => {
    ev.preventDefault();
    document.body.classList.remove('dragging');
    const f = ev.dataTransfer?.files[0];
    if (f) void work(`reading ${f.name}`, () => (f.name.toLowerCase().endsWith('.onnx') ? openOnnx(f) : openImage(f)));
  };
}

async function main(): Promise<void> {
  setUp();
  try {
    ctx = await createWebGpu();
  } catch (e) {
    $('no-webgpu').hidden = false;
    $('no-webgpu').textContent = `${(e as Error).message}.`;
    $('model-info').textContent = 'no WebGPU: nothing can run here';
    for (const el of $('controls').querySelectorAll<HTMLInputElement>('input, select, button')) el.disabled = true;
    return;
  }
  await work('loading the class names', async () => {
    imagenet = await (await fetch('imagenet_classes.json')).json();
  });
  await work('loading the pretrained ResNet-50', async () => {
    const bytes = await fetchCached(PRETRAINED, 'loading the pretrained ResNet-50 (95 MB, once)');
    if (!bytes) {
      $('model-info').textContent = `no pretrained model beside this page (${PRETRAINED}): open an .onnx model`;
      return;
    }
    await useModel(async () => {
      const { tensors, card } = await stateDictFromBytes(bytes, PRETRAINED);
      if (!card) throw new Error(`${PRETRAINED} carries no model card: rebuild the page with npm run build:web`);
      return buildClassifier(ctx, tensors, card, imagenet);
    }, 'ResNet-50 (ImageNet)');
  });
  await work('opening the example photo', async () => {
    const res = await fetch('chelsea.png');
    if (res.ok && !photo) await openImage(await res.blob());
  });
}

void main();
