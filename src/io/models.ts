import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GpuContext } from '../gpu/device.ts';
import { buildClassifier, type Classifier, graphClassifier, IMAGENET_PREPROCESSING, type ModelCard, type Preprocessing } from '../nn/model.ts';
import type { ResNetArch, ResNetVariant } from '../nn/resnet.ts';
import { readStateDict } from './weights.ts';
import { RESNET50_CARD, ensureResNet50 } from './pretrained.ts';
import { type GraphModel, loadOnnx } from '../nn/graph.ts';

/** The package's folder (where assets/ is), from a source file (src/io) or a built chunk (dist/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'assets'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find Glimpse's package folder above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}
export const ROOT = packageRoot();

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
  /** Hears what happens when the pretrained weights are fetched on first use (default: stderr). */
  log?: (line: string) => void;
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
  return graphClassifier(net, spec, imagenetClasses(), file);
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
  const path = await ensureResNet50({ log: spec.log ?? ((line) => console.error(`glimpse: ${line}`)) });
  const { tensors, card } = await readStateDict(path);
  return buildClassifier(ctx, tensors, card ?? RESNET50_CARD, imagenetClasses());
}

export { imageToInput } from './image.ts';
