// npm run build:web [-- --out DIR] [--no-weights]: the static web app in dist/web/ (HTML, CSS, one
// script with the engine and its kernels, the class names, an example photo, and the pretrained
// ResNet-50 copied from the cache, fetched first if need be). Any static file server can serve it.
import { copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { pageBundleOptions } from '../src/io/bundle.ts';
import { ensureResNet50 } from '../src/io/pretrained.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function buildWeb(out: string, opts: { weights: boolean }): Promise<void> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await esbuild.build({ ...pageBundleOptions(join(root, 'src/web/app.ts'), join(root, 'kernels')), outfile: join(out, 'app.js'), minify: true });
  for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'src/web', f), join(out, f));
  for (const f of ['imagenet_classes.json', 'chelsea.png']) copyFileSync(join(root, 'assets', f), join(out, f));
  if (opts.weights) copyFileSync(await ensureResNet50({ log: (l) => console.error(`glimpse: ${l}`) }), join(out, 'resnet50-imagenet.safetensors'));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--out');
  const out = resolve(i > 0 ? process.argv[i + 1] : join(root, 'dist', 'web'));
  await buildWeb(out, { weights: !process.argv.includes('--no-weights') });
  console.log(`${out}: app.js ${(statSync(join(out, 'app.js')).size / 1e6).toFixed(2)} MB; serve the folder with any static file server (python3 -m http.server -d ${out})`);
}
