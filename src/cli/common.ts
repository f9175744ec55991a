import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { GpuContext } from '../gpu/device.ts';
import { createNodeGpu } from '../io/node-gpu.ts';
import { loadClassifier, type ModelSpec } from '../io/models.ts';
import { normalizedInput, preprocessImage } from '../io/image.ts';
import { readImage } from '../io/image-decode.ts';
import { parseSafetensors, serializeSafetensors } from '../io/safetensors.ts';
import type { HostTensor } from '../io/host-tensor.ts';
import type { Classifier } from '../nn/model.ts';
import { GraphModel } from '../nn/graph.ts';
import { ARCHS, type ResNetArch } from '../nn/resnet.ts';
import { parseWinograd, winograd } from '../autograd/ops/winograd.ts';
import { convSettings, parsePrecision } from '../autograd/ops/conv.ts';
import { describeChoice } from '../autograd/ops/conv-tune.ts';
import { tuneModel } from '../nn/tune.ts';
import { loadTuning, saveTuning, tuningCachePath } from '../io/tuning-cache.ts';
import { UsageError, type Parsed, type FlagSpec } from './args.ts';

export const MODEL_FLAGS: FlagSpec = {
  model: 'string', weights: 'string', arch: 'string', variant: 'string', mean: 'numbers', std: 'numbers',
  image: 'string', input: 'string', winograd: 'string', precision: 'string', autotune: 'boolean', size: 'number', resize: 'number',
};

/** The batch that --autotune times at: IG's and Occlusion's batches are of this order. */
const TUNE_BATCH = 16;

export function modelSpec(a: Parsed): ModelSpec {
  if (a.model && a.weights) throw new UsageError('give either --model or --weights, not both');
  if (a.arch && !ARCHS.includes(a.arch as ResNetArch)) throw new UsageError(`unknown --arch '${a.arch}'; choose one of ${ARCHS.join(', ')}`);
  if (a.variant && a.variant !== 'v1' && a.variant !== 'v1.5') throw new UsageError(`unknown --variant '${a.variant}'; use v1 or v1.5`);
  const onnx = typeof a.model === 'string' && a.model.toLowerCase().endsWith('.onnx');
  if ((a.arch || a.variant) && !a.weights) throw new UsageError('--arch and --variant describe a --weights file');
  if ((a.mean || a.std) && !a.weights && !onnx) throw new UsageError('--mean and --std describe a --weights file or a --model FILE.onnx');
  if ((a.size !== undefined || a.resize !== undefined) && !onnx) throw new UsageError('--size and --resize describe a --model FILE.onnx (a ResNet\'s file carries its preprocessing)');
  for (const k of ['size', 'resize'] as const) {
    if (a[k] !== undefined && !(Number.isInteger(a[k]) && (a[k] as number) >= 1 && (a[k] as number) <= 4096)) throw new UsageError(`--${k} must be an integer 1..4096, got ${a[k]}`);
  }
  if (onnx && !existsSync(a.model as string)) throw new UsageError(`model file ${a.model} does not exist`);
  for (const k of ['mean', 'std'] as const) {
    if (a[k] && (a[k] as number[]).length !== 3) throw new UsageError(`--${k} needs three numbers (R,G,B)`);
  }
  if (a.weights && !existsSync(a.weights as string)) throw new UsageError(`weights file ${a.weights} does not exist`);
  return { model: a.model as string | undefined, weights: a.weights as string | undefined, arch: a.arch as ResNetArch | undefined,
    variant: a.variant as 'v1' | 'v1.5' | undefined, mean: a.mean as number[] | undefined, std: a.std as number[] | undefined,
    size: a.size as number | undefined, resize: a.resize as number | undefined };
}

/**
 * The model's input as a host tensor [N, 3, H, W]: from --image (preprocessed; `pixels` keeps the
 * resized and cropped image before normalization, [3, crop, crop] in 0..1, for figures) or --input
 * FILE.safetensors:KEY (as is).
 */
export function readInput(a: Parsed, model: Classifier, anyShape = false): HostTensor & { pixels?: Float32Array } {
  if (!!a.image === !!a.input) throw new UsageError('give exactly one of --image FILE or --input FILE.safetensors:KEY');
  if (a.image) {
    const p = model.card.preprocessing;
    const want = model.net instanceof GraphModel ? model.net.onnx.inputs[0].shape : null;
    if (want && (want.length !== 4 || (typeof want[1] === 'number' && want[1] !== 3))) {
      throw new UsageError(`${(model.net as GraphModel).source} takes [${want.map((d) => d ?? '?').join(', ')}], not an RGB image: give --input FILE.safetensors:KEY`);
    }
    const pixels = preprocessImage(readImage(a.image as string), p);
    return { dtype: 'F32', shape: [1, 3, p.crop, p.crop], data: normalizedInput(pixels, p), pixels };
  }
  const t = readInputFile(a.input as string, anyShape, model.net instanceof GraphModel ? model.net : null);
  if (t.shape[0] === 0) throw new UsageError(`${a.input} holds no examples (batch 0)`);
  const bad = (t.data as Float32Array).findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new UsageError(`${a.input} holds ${t.data[bad]} at index ${bad}; the input must be finite (NaN and infinity propagate to every score)`);

  return t;
}

/** An input for an ONNX model: its rank and fixed sizes (the batch, and an image's height and width, may vary). */
function graphInput(t: HostTensor, what: string, graph: GraphModel): HostTensor {
  if (graph.inputShapes) {
    // Several inputs travel packed, [N, sum of sizes] (GraphModel.inputShapes).
    const total = graph.inputShapes.reduce((s, d) => s + d.reduce((a, b) => a * b, 1), 0);
    if (t.shape.length !== 2 || t.shape[1] !== total) throw new UsageError(`${what} has shape [${t.shape.join(', ')}]; ${graph.source} takes its ${graph.inputShapes.length} inputs (${graph.onnx.inputs.map((i) => i.name).join(', ')}) packed as [N, ${total}], each flattened in order`);
    if (t.dtype !== 'F32') throw new UsageError(`${what} holds int64 values; a packed input is float32 (token ids as exact floats)`);
    return t;
  }
  const want = graph.onnx.inputs[0].shape;
  const shown = want ? `[${want.map((d) => d ?? '?').join(', ')}]` : 'its input';
  const takesIds = [6, 7].includes(graph.onnx.inputs[0].elemType); // int32 or int64: token ids, fed as exact floats
  if (t.dtype !== 'F32' && !takesIds) throw new UsageError(`${what} holds int64 values; ${graph.source} takes float32 input`);
  if (t.dtype !== 'F32') {
    const ids = t.data as BigInt64Array;
    if (ids.some((v) => v >= 2n ** 24n || v <= -(2n ** 24n))) throw new UsageError(`${what} holds token ids beyond 2^24, which float32 does not hold exactly`);
    t = { dtype: 'F32', shape: t.shape, data: Float32Array.from(ids, Number) };
  }
  if (want && (t.shape.length !== want.length || want.some((d, i) => i > 0 && typeof d === 'number' && !(want.length === 4 && i >= 2) && d !== t.shape[i]))) {
    throw new UsageError(`${what} has shape [${t.shape.join(', ')}]; ${graph.source} takes ${shown}`);
  }
  return t;
}

function readInputFile(spec: string, anyShape: boolean, graph: GraphModel | null): HostTensor {
  const at = spec.lastIndexOf(':');
  if (at <= 0) throw new UsageError(`--input must be FILE.safetensors:KEY, got '${spec}'`);
  const file = spec.slice(0, at), key = spec.slice(at + 1);
  if (!existsSync(file)) throw new UsageError(`input file ${file} does not exist`);
  const { tensors } = parseSafetensors(new Uint8Array(readFileSync(file)), file);
  const t = tensors.get(key);
  if (!t) throw new UsageError(`${file} has no tensor '${key}'; it holds: ${[...tensors.keys()].join(', ')}`);
  if (anyShape) return t.dtype === 'F32' ? t : { dtype: 'F32', shape: t.shape, data: Float32Array.from(t.data as BigInt64Array, Number) };
  if (graph) return graphInput(t, `${file}:${key}`, graph);
  if (t.dtype !== 'F32') throw new UsageError(`${file}:${key} holds ${t.dtype === 'I64' ? 'int64' : t.dtype} values; the model takes a normalized float32 [N, 3, H, W] tensor`);
  if (t.shape.length !== 4 || t.shape[1] !== 3) {
    throw new UsageError(`${file}:${key} has shape [${t.shape.join(', ')}]; the model takes a normalized [N, 3, H, W] float tensor`);
  }
  return t;
}

/** An output file's folder must exist before the work runs, not after. */
export function checkOutputFolder(file: string, flag: string): void {
  const dir = dirname(resolve(file));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--${flag} ${file}: the folder ${dir} does not exist`);
}

export function writeTensors(path: string, tensors: Record<string, HostTensor>, metadata?: Record<string, string>): void {
  if (!path.endsWith('.safetensors')) throw new UsageError(`--save must name a .safetensors file, got ${path}`);
  writeFileSync(path, serializeSafetensors(tensors, metadata));
}

/**
 * Runs fn with a GPU context and the model, and always frees the device so the process can exit.
 * Convolution tiles tuned earlier on this adapter are loaded (they change speed, not results);
 * --autotune first times the model's convolutions for those not tuned yet and saves the choices.
 */
export async function withModel<T>(a: Parsed, fn: (ctx: GpuContext, model: Classifier) => Promise<T>): Promise<T> {
  const spec = modelSpec(a);
  if (a.winograd !== undefined) {
    try {
      Object.assign(winograd, parseWinograd(String(a.winograd)));
    } catch (e) {
      throw new UsageError(`--${(e as Error).message}`);
    }
  }
  if (a.precision !== undefined) {
    try {
      convSettings.precision = parsePrecision(String(a.precision));
    } catch (e) {
      throw new UsageError(`--${(e as Error).message}`);
    }
  }
  const ctx = await createNodeGpu();
  try {
    const model = await loadClassifier(ctx, spec);
    loadTuning(ctx);
    if (a.autotune) {
      const crop = model.card.preprocessing.crop;
      console.error(`glimpse: tuning convolution tiles for ${ctx.adapterDescription} at batch ${TUNE_BATCH}...`);
      const choices = await tuneModel(ctx, model.net, [TUNE_BATCH, 3, crop, crop], { log: (c) => console.error(`  ${describeChoice(c)}`) });
      if (choices.length) saveTuning(ctx);
      console.error(`glimpse: ${choices.length ? `${choices.length} choices saved to` : 'all convolutions already tuned in'} ${tuningCachePath()}`);
    }
    return await fn(ctx, model);
  } finally {
    ctx.destroy();
  }
}
