import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GpuContext } from '../src/gpu/device.ts';
import { parseSafetensors } from '../src/io/safetensors.ts';
import type { StateDict } from '../src/io/host-tensor.ts';
import { readStateDict } from '../src/io/weights.ts';
import { buildClassifier, IMAGENET_PREPROCESSING, type Classifier } from '../src/nn/model.ts';
import { imagenetClasses, loadClassifier } from '../src/io/models.ts';
import type { ResNet } from '../src/nn/resnet.ts';

/** The reference outputs of PyTorch + Captum (../shared/ref beside the checkout, or GLIMPSE_REF). */
export const REF_DIR = process.env.GLIMPSE_REF ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared', 'ref');

const cache = new Map<string, StateDict>();
export function refTensors(file: string): StateDict {
  let t = cache.get(file);
  if (!t) {
    t = parseSafetensors(new Uint8Array(readFileSync(join(REF_DIR, file))), file).tensors;
    cache.set(file, t);
  }
  return t;
}

export function ref(file: string, key: string): { shape: number[]; data: Float32Array } {
  const t = refTensors(file).get(key);
  if (!t) throw new Error(`${file} has no key ${key}`);
  return { shape: t.shape, data: t.data as Float32Array };
}

let r18: Promise<Classifier<ResNet>> | null = null;
export function resnet18Seed0(ctx: GpuContext): Promise<Classifier<ResNet>> {
  return (r18 ??= readStateDict(join(REF_DIR, 'resnet18_seed0.pth')).then(({ tensors }) =>
    buildClassifier(ctx, tensors, { arch: 'resnet18', variant: 'v1.5', preprocessing: IMAGENET_PREPROCESSING, classes: 'imagenet' }, imagenetClasses())));
}

let r50: Promise<Classifier<ResNet>> | null = null;
export function resnet50Pretrained(ctx: GpuContext): Promise<Classifier<ResNet>> {
  return (r50 ??= loadClassifier(ctx, { model: 'resnet50' }) as Promise<Classifier<ResNet>>);
}
