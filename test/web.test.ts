// The static web app (npm run build:web) in Debian's Chromium on SwiftShader's WebGPU, served by a
// plain static file server: the pretrained ResNet-50 from beside the page, an .onnx model opened from
// a file, top-5 classes, Saliency and IG downloaded as .safetensors and held to Captum's, a figure
// redrawn with other options, and the message of a browser without WebGPU.
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildWeb } from '../scripts/build-web.ts';
import { parseSafetensors } from '../src/io/safetensors.ts';
import { assertClose } from './helpers.ts';
import { REF_DIR, ref } from './refdata.ts';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.png': 'image/png' };

/** Any static file server will do; this one is a dozen lines. */
async function serveStatic(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url!, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(dir, path.endsWith('/') ? 'index.html' : path);
    if (!file.startsWith(dir) || !existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => new Promise((r) => server.close(() => r())) };
}

test('web app: pretrained ResNet-50 beside the page, an .onnx model from a file, Saliency and IG as Captum, figure options, no WebGPU', async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium; .ci/run does) or set CHROMIUM`);
  const { chromium } = await import('playwright-core');
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-web-'));
  await buildWeb(dir, { weights: true });
  const server = await serveStatic(dir);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    // The pretrained model and the example photo load by themselves: the demo's top class.
    await page.waitForSelector('#top5 li', { timeout: 300_000 });
    assert.match(String(await page.textContent('#top5 li')), /^285 Egyptian cat 0\.78/);

    // SqueezeNet from a file, at 64x64 as its reference.
    const M = join(REF_DIR, 'models'), refs = 'models/squeezenet1_1_chelsea_64.safetensors';
    await page.setInputFiles('#model', join(M, 'squeezenet1_1_seed0.onnx'));
    await page.waitForFunction(() => document.querySelector('#model-info')!.textContent!.startsWith('squeezenet1_1_seed0.onnx'), null, { timeout: 120_000 });
    await page.fill('#size', '64');
    await page.fill('#resize', '64');
    await page.dispatchEvent('#resize', 'change');
    await page.waitForFunction(() => document.querySelector('#model-info')!.textContent!.includes('64x64 input'), null, { timeout: 120_000 });
    await page.setInputFiles('#image', join(REF_DIR, 'images', 'chelsea.png'));
    const logits = ref(refs, 'logits').data, top = [...logits.keys()].sort((a, b) => logits[b] - logits[a]).slice(0, 5);
    await page.waitForFunction((first) => document.querySelector('#top5 button')?.getAttribute('data-class') === String(first), top[0], { timeout: 120_000 });
    assert.equal(await page.$$eval('#top5 button', (bs) => bs.map((b) => Number(b.getAttribute('data-class')))), top, 'top-5 as PyTorch');

    const explain = async (method: string, fields: Record<string, string>): Promise<Float32Array> => {
      await page.selectOption('#method', method);
      for (const [name, value] of Object.entries(fields)) await page.fill(`#arguments [name="${name}"]`, value);
      await page.fill('#target', '416'); // the reference's target
      await page.evaluate(() => { document.querySelector('#result-info')!.textContent = ''; });
      await page.click('#explain');
      await page.waitForFunction(() => document.querySelector('#result-info')!.textContent !== '' || !document.querySelector<HTMLElement>('#error')!.hidden, null, { timeout: 300_000 });
      const error = await page.$eval('#error', (e) => ((e as HTMLElement).hidden ? null : e.textContent));
      if (error) throw new Error(`${method}: ${error}`);
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-attr')]);
      return parseSafetensors(new Uint8Array(readFileSync((await download.path())!))).tensors.get('attributions')!.data as Float32Array;
    };
    assertClose(await explain('Saliency', {}), ref(refs, 'saliency').data, 1e-3, 'Saliency in the web app');
    assertClose(await explain('IntegratedGradients', { nSteps: '16' }), ref(refs, 'ig_gl16').data, 1e-3, 'IG-16 in the web app');
    assert.ok((await page.$$eval('#arguments [name="layer"] option', (os) => os.map((o) => (o as HTMLOptionElement).value))).length === 0, 'IG has no layer field');
    await page.selectOption('#method', 'LayerGradCam');
    assert.ok((await page.$$eval('#arguments [name="layer"] option', (os) => os.map((o) => (o as HTMLOptionElement).value))).includes('features.9.expand3x3'), 'the layer picker lists the model\'s layers');

    // Another figure from the same attributions, and its PNG.
    const before = await page.$eval('#figure canvas', (c) => (c as HTMLCanvasElement).toDataURL());
    await page.selectOption('#viz', 'heat_map');
    await page.selectOption('#sign', 'all');
    assert.not.equal(await page.$eval('#figure canvas', (c) => (c as HTMLCanvasElement).toDataURL()), before, 'the figure is redrawn');
    const [png] = await Promise.all([page.waitForEvent('download'), page.click('#download-png')]);
    assert.equal([...readFileSync((await png.path())!).subarray(1, 4)], [0x50, 0x4e, 0x47], 'a PNG');
    assert.equal(errors, [], `page errors: ${errors.join('\n')}`);

    // A browser without WebGPU is told so, and nothing runs.
    const bare = await browser.newPage();
    await bare.addInitScript(() => Object.defineProperty(navigator, 'gpu', { value: undefined, configurable: true }));
    await bare.goto(server.url);
    await bare.waitForSelector('#no-webgpu:not([hidden])');
    assert.match(String(await bare.textContent('#no-webgpu')), 'this browser has no WebGPU');
    assert.ok(await bare.$eval('#explain', (b) => (b as HTMLButtonElement).disabled));
  } finally {
    await browser.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
