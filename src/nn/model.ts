import type { GpuContext } from '../gpu/device.ts';
import type { StateDict } from '../io/host-tensor.ts';
import { ARCHS, ResNet, resnetArchOf, type ResNetArch, type ResNetVariant } from './resnet.ts';
import type { Module } from './module.ts';
import type { GraphModel } from './graph.ts';

/** torchvision-style preprocessing: Resize(resize), CenterCrop(crop), ToTensor, Normalize(mean, std). */
export interface Preprocessing {
  resize: number;
  crop: number;
  mean: number[];
  std: number[];
}

export const IMAGENET_PREPROCESSING: Preprocessing = { resize: 256, crop: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/** What a model is and how to feed it: stored with the engine's weight files (safetensors metadata `glimpse`). */
export interface ModelCard {
  /** A torchvision ResNet, or 'onnx' for a graph read from an ONNX file. */
  arch: ResNetArch | 'onnx';
  variant: ResNetVariant;
  preprocessing: Preprocessing;
  /** 'imagenet' for torchvision's 1000 class names, or the names themselves. */
  classes: 'imagenet' | string[];
  source?: string;
}

/** A network (a ResNet, or an ONNX graph model) with its preprocessing and class names. */
export interface Classifier<N extends Module = Module> {
  net: N;
  card: ModelCard;
  classes: string[];
}

export function checkCard(card: ModelCard): void {
  if (card.arch !== 'onnx' && !ARCHS.includes(card.arch)) throw new Error(`unknown architecture '${card.arch}'; choose one of ${ARCHS.join(', ')}`);
  if (card.variant !== 'v1' && card.variant !== 'v1.5') throw new Error(`unknown ResNet variant '${card.variant}'; use v1 or v1.5`);
  const p = card.preprocessing;
  for (const [n, v] of [['mean', p.mean], ['std', p.std]] as const) {
    if (!Array.isArray(v) || v.length !== 3 || v.some((x) => !Number.isFinite(x))) throw new Error(`${n} must be three numbers, got ${JSON.stringify(v)}`);
  }
  if (p.std.some((s) => s === 0)) throw new Error('std must not contain 0');
}

/** Builds the network of a card and loads its weights (strictly: every key must fit). */
export function buildClassifier(ctx: GpuContext, tensors: StateDict, card: ModelCard, imagenetClasses: string[]): Classifier<ResNet> {
  checkCard(card);
  const fc = tensors.get('fc.weight');
  const numClasses = fc?.shape[0] ?? 1000;
  const fileArch = resnetArchOf(tensors.keys());
  if (fileArch && fileArch !== card.arch) throw new Error(`the weights are a ${fileArch} (their keys have its blocks), not a ${card.arch}: use --arch ${fileArch}`);
  if (!fileArch && !tensors.has('conv1.weight')) {
    throw new Error(`the weights are not a torchvision ResNet's state_dict: no conv1.weight (their first keys: ${[...tensors.keys()].slice(0, 4).join(', ')})`);
  }
  if (card.arch === 'onnx') throw new Error('an ONNX model is built from its file (loadOnnx), not from a state_dict');
  const net = new ResNet(card.arch, card.variant, numClasses);
  net.loadStateDict(ctx, tensors);
  const classes = card.classes === 'imagenet' ? imagenetClasses : card.classes;
  if (classes.length !== numClasses) {
    throw new Error(`the model has ${numClasses} outputs but ${classes.length} class names`);
  }
  return { net, card, classes };
}

/**
 * An ONNX graph as an image classifier: ImageNet's preprocessing unless told (the crop: `size`, else
 * the model's fixed input size, else 224; the resize before it: crop * 256 / 224), ImageNet's class
 * names for 1000 outputs, "class i" otherwise.
 */
export function graphClassifier(net: GraphModel, spec: { size?: number; resize?: number; mean?: number[]; std?: number[] }, imagenetClasses: string[], source: string): Classifier<GraphModel> {
  const onnx = net.onnx;
  const dims = onnx.inputs[0].shape ?? [];
  const fixed = typeof dims[2] === 'number' && dims[2] === dims[3] ? dims[2] : null;
  const crop = spec.size ?? fixed ?? 224;
  const preprocessing: Preprocessing = {
    crop, resize: spec.resize ?? Math.floor((crop * 256) / 224),
    mean: spec.mean ?? IMAGENET_PREPROCESSING.mean, std: spec.std ?? IMAGENET_PREPROCESSING.std,
  };
  const out = onnx.outputs[0].shape?.[1];
  const classes = out === 1000 || out === null || out === undefined || typeof out === 'string' ? imagenetClasses : Array.from({ length: out }, (_, i) => `class ${i}`);
  return { net, classes, card: { arch: 'onnx', variant: 'v1.5', preprocessing, classes: classes.length === 1000 ? 'imagenet' : classes, source } };
}
