// End to end in a real browser: Debian's Chromium driven headless by playwright-core loads the
// explorer, picks a method, fetches, waits for the overlays, re-attributes by clicking a predicted
// class, computes the same attribution on the page's own WebGPU (SwiftShader) and compares it with the
// server's, and checks that no console error was logged. The screenshot lands in test/artifacts/.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeFloats } from '../src/insights/present.ts';
import { getGpu, relMaxError } from './helpers.ts';
import { insightsFixture, onnxInsightsFixture, severalFeaturesFixture, tableInsightsFixture, textInsightsFixture, twoModelFixture } from './insights-fixture.ts';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
// The machine's network is closed: background networking would only fill the log with refusals.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

type Page = import('playwright-core').Page;
const inBrowser = (page: Page, req: unknown) => page.evaluate((r) => (window as unknown as { glimpseInsights: { attributeInBrowser(r: unknown): Promise<{ data: number[] }> } }).glimpseInsights.attributeInBrowser(r), req);
async function onServer(url: string, req: object): Promise<Float32Array> {
  const res = await fetch(`${url}api/attribute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...req, raw: true }) });
  const body = await res.json();
  if (!res.ok) throw new Error(`server: ${body.error}`);
  return decodeFloats(body.attribution.data);
}

/** Opens the explorer of `vis` in headless Chromium, runs `drive`, and checks that nothing was logged as an error. */
async function withPage(vis: { serve(o: { port: number }): Promise<{ url: string; close(): Promise<void> }> }, drive: (page: Page, url: string) => Promise<void>): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium; .ci/run does) or set CHROMIUM`);
  const { chromium } = await import('playwright-core');
  const server = await vis.serve({ port: 0 });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const errors: string[] = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('console', (m) => { if (m.type() === 'error' && !/status of 400/.test(m.text())) errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
    await drive(page, server.url);
    assert.equal(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await browser.close();
    await server.close();
  }
}

test('insights page: fetch, overlays, re-attribution, in-browser WebGPU agrees with the server', async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium; .ci/run does) or set CHROMIUM`);
  const { chromium } = await import('playwright-core');
  const { vis } = await insightsFixture(await getGpu());
  const server = await vis.serve({ port: 0 });
  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    // The machine's network is closed: background networking would only fill the log with refusals.
    args: ['--no-sandbox', '--disable-gpu', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  const errors: string[] = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready=true]', { timeout: 60_000 });

    // Server mode: Grad-CAM on layer3 for every example.
    await page.selectOption('#method', 'LayerGradCam');
    await page.selectOption('select[name=layer]', 'layer3');
    await page.click('#fetch');
    await page.waitForFunction(() => document.querySelectorAll('.example img[alt=blended]').length === 4, null, { timeout: 120_000 });
    const loaded = await page.$$eval('.example img', (imgs) => imgs.map((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth));
    assert.is(loaded.length, 12);
    assert.ok(loaded.every((w) => w === 64), `every picture decoded at 64 px: ${loaded}`);

    // Click the second prediction of example 1: the card is attributed to that class.
    const second = await page.$eval('.example[data-index="1"] .predictions li:nth-child(2) .pred', (b) => (b as HTMLElement).dataset.class!);
    await page.click('.example[data-index="1"] .predictions li:nth-child(2) .pred');
    await page.waitForFunction((c) => document.querySelector(`.example[data-index="1"] .pred.target`)?.getAttribute('data-class') === c, second, { timeout: 60_000 });
    assert.match(await page.textContent('.example[data-index="1"] .meta') ?? '', 'on the server');

    // A bad argument shows the validator's message and sends nothing.
    await page.selectOption('#method', 'IntegratedGradients');
    await page.fill('input[name=nSteps]', '1');
    await page.click('#fetch');
    await page.waitForSelector('#error:not([hidden])');
    assert.match(await page.textContent('#error') ?? '', 'IntegratedGradients.nSteps must be between 2 and 1000');

    // In-browser mode: the page computes IG itself; its numbers match the server's.
    await page.fill('input[name=nSteps]', '4');
    await page.check('#compute-browser');
    await page.click('#fetch');
    await page.waitForFunction(() => document.querySelectorAll('.example .meta').length === 4 && [...document.querySelectorAll('.example .meta')].every((m) => m.textContent!.includes('in this browser')), null, { timeout: 300_000 });
    const req = { example: 2, target: 285, method: 'IntegratedGradients', arguments: { nSteps: 4 } };
    const inBrowser = await page.evaluate((r) => (window as unknown as { glimpseInsights: { attributeInBrowser(r: unknown): Promise<{ data: number[] }> } }).glimpseInsights.attributeInBrowser(r), req);
    const res = await fetch(`${server.url}api/attribute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...req, raw: true }) });
    const onServer = decodeFloats((await res.json()).attribution.data);
    assert.is(inBrowser.data.length, onServer.length);
    const err = relMaxError(inBrowser.data, onServer);
    assert.ok(err <= 1e-3, `browser vs server IG: relative max error ${err}`);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'insights.png'), fullPage: true });
    assert.equal(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('insights page with an ONNX model (SqueezeNet 1.1): the page loads the .onnx file and its in-browser Occlusion and IG match the server\'s', async () => {
  const { chromium } = await import('playwright-core');
  const { vis } = await onnxInsightsFixture(await getGpu());
  const server = await vis.serve({ port: 0 });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'] });
  const errors: string[] = [];
  try {
    const page = await browser.newPage();
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready=true]', { timeout: 60_000 });
    assert.not.ok(await page.isDisabled('#compute-browser'), 'the in-browser mode is offered for an ONNX model read from one file');
    for (const req of [{ example: 1, target: 3, method: 'IntegratedGradients', arguments: { nSteps: 4 } },
      { example: 2, target: 3, method: 'Occlusion', arguments: { slidingWindowShapes: [3, 16, 16], strides: [3, 16, 16] } }]) {
      const inBrowser = await page.evaluate((r) => (window as unknown as { glimpseInsights: { attributeInBrowser(r: unknown): Promise<{ data: number[] }> } }).glimpseInsights.attributeInBrowser(r), req);
      const res = await fetch(`${server.url}api/attribute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...req, raw: true }) });
      const body = await res.json();
      if (!res.ok) throw new Error(`server: ${body.error}`);
      const onServer = decodeFloats(body.attribution.data);
      assert.is(inBrowser.data.length, onServer.length);
      const err = relMaxError(inBrowser.data, onServer);
      assert.ok(err <= 1e-3, `${req.method}: browser vs server, relative max error ${err}`);
    }
    assert.equal(errors, [], `console errors: ${errors.join('\n')}`);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('insights page over a text model (the sentiment CNN): coloured words, a method change re-attributes, a typed sentence, a bad one\'s message, in-browser LIG equals the server\'s', async () => {
  const { vis } = await textInsightsFixture(await getGpu());
  await withPage(vis, async (page, url) => {
    assert.equal(await page.$$eval('#method option', (o) => o.map((x) => (x as HTMLOptionElement).value)), ['LayerIntegratedGradients', 'LayerGradientXActivation', 'Saliency', 'Occlusion', 'FeatureAblation']);
    await page.selectOption('#method', 'Occlusion');
    await page.click('#fetch');
    await page.waitForFunction(() => document.querySelectorAll('.example .tokens').length === 4 && !!document.querySelector('.example .meta')?.textContent?.includes('Occlusion'), null, { timeout: 60_000 });
    const colours = () => page.$$eval('.example[data-index="0"] .tokens mark', (m) => m.map((x) => (x as HTMLElement).style.background));
    const occlusion = await colours();
    assert.is(occlusion.length, 24);
    assert.ok(occlusion.some((c) => c.includes('rgb') && c !== 'rgb(255, 255, 255)'), `the words are coloured: ${occlusion.slice(0, 5)}`);
    assert.is(await page.textContent('.example[data-index="0"] .tokens mark'), 'the');

    // Another method re-attributes: the meta line and the colours change.
    await page.selectOption('#method', 'LayerIntegratedGradients');
    await page.fill('input[name=nSteps]', '8');
    await page.click('#fetch');
    await page.waitForFunction(() => document.querySelector('.example[data-index="0"] .meta')?.textContent?.includes('LayerIntegratedGradients'), null, { timeout: 120_000 });
    assert.not.equal(await colours(), occlusion);

    // A typed sentence gets its own card; an empty one, the server's message.
    await page.fill('#custom-fields .custom-text', 'What a superb and brilliant film');
    await page.click('#custom-go');
    await page.waitForSelector('.example[data-index="-1"] .tokens mark', { timeout: 60_000 });
    assert.match(await page.textContent('.example[data-index="-1"] h3') ?? '', 'Your input');
    assert.is(await page.textContent('.example[data-index="-1"] .pred.target'), 'positive');
    await page.fill('#custom-fields .custom-text', '   ');
    await page.click('#custom-go');
    await page.waitForSelector('#error:not([hidden])');
    assert.match(await page.textContent('#error') ?? '', 'the text is empty');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'insights-text.png'), fullPage: true });

    const req = { example: 1, target: 1, method: 'LayerIntegratedGradients', arguments: { nSteps: 8 } };
    const browser = await inBrowser(page, req), server = await onServer(url, req);
    const err = relMaxError(browser.data, server);
    assert.ok(err <= 1e-3, `LIG: browser vs server, relative max error ${err}`);
  });
});

test('insights page over a table model (the wine MLP): a bar per column, a method change re-attributes, an edited row, a missing value\'s message, in-browser FeatureAblation equals the server\'s', async () => {
  const { vis } = await tableInsightsFixture(await getGpu());
  await withPage(vis, async (page, url) => {
    assert.equal(await page.$$eval('#method option', (o) => o.map((x) => (x as HTMLOptionElement).value)), ['IntegratedGradients', 'Saliency', 'InputXGradient', 'FeatureAblation']);
    await page.click('#fetch');
    await page.waitForFunction(() => document.querySelectorAll('.example .columns').length === 4 && !!document.querySelector('.example .meta')?.textContent?.includes('IntegratedGradients'), null, { timeout: 60_000 });
    assert.is(await page.$$eval('.example[data-index="0"] .column', (c) => c.length), 13);
    const bars = () => page.$$eval('.example[data-index="0"] .column .fill', (f) => f.map((x) => (x as HTMLElement).style.width));
    const ig = await bars();
    assert.ok(ig.some((w) => parseFloat(w) > 5), `bars drawn: ${ig}`);

    await page.selectOption('#method', 'FeatureAblation');
    await page.click('#fetch');
    await page.waitForFunction(() => document.querySelector('.example[data-index="0"] .meta')?.textContent?.includes('FeatureAblation'), null, { timeout: 60_000 });
    assert.not.equal(await bars(), ig);

    // The row fields start from example 0; an edited row gets its card, an emptied field the server's message.
    assert.ok(Number(await page.inputValue('#custom-fields input[name=alcohol]')) > 10);
    await page.fill('#custom-fields input[name=alcohol]', '11');
    await page.click('#custom-go');
    await page.waitForSelector('.example[data-index="-1"] .columns', { timeout: 60_000 });
    assert.match(await page.textContent('.example[data-index="-1"] .column') ?? '', 'alcohol11');
    await page.fill('#custom-fields input[name=proline]', '');
    await page.click('#custom-go');
    await page.waitForSelector('#error:not([hidden])');
    assert.match(await page.textContent('#error') ?? '', 'input.proline must be a finite number');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'insights-table.png'), fullPage: true });

    const req = { example: 2, target: 0, method: 'FeatureAblation', arguments: {} };
    const browser = await inBrowser(page, req), server = await onServer(url, req);
    const err = relMaxError(browser.data, server);
    assert.ok(err <= 1e-3, `FeatureAblation: browser vs server, relative max error ${err}`);
  });
});

test('insights page with two models: each example\'s cards side by side, one per model; in-browser Saliency of the second model equals the server\'s', async () => {
  const { vis } = await twoModelFixture(await getGpu());
  await withPage(vis, async (page, url) => {
    await page.selectOption('#method', 'Saliency');
    await page.click('#fetch');
    await page.waitForFunction(() => document.querySelectorAll('.models').length === 4 && document.querySelectorAll('.example img[alt=blended]').length === 8, null, { timeout: 120_000 });
    const heads = await page.$$eval('.models:first-child .example h3', (h) => h.map((x) => x.textContent));
    assert.equal(heads.map((h) => /· (\S+) ·/.exec(h ?? '')?.[1]), ['resnet18', 'squeezenet1_1_seed0.onnx']);
    const req = { example: 1, target: 285, method: 'Saliency', arguments: {}, model: 1 };
    const browser = await inBrowser(page, req), server = await onServer(url, req);
    const err = relMaxError(browser.data, server);
    assert.ok(err <= 1e-3, `model 1 Saliency: browser vs server, relative max error ${err}`);
  });
});

test('insights page over a model of two inputs (token ids and a row): each card shows both features; a typed pair is attributed; in-browser Feature Ablation equals the server\'s', async () => {
  const { vis } = await severalFeaturesFixture(await getGpu(), 'text_and_table');
  await withPage(vis, async (page, url) => {
    await page.click('#fetch');
    await page.waitForFunction(() => document.querySelectorAll('.example .meta').length === 3 && !!document.querySelector('.example .meta')?.textContent?.includes('FeatureAblation'), null, { timeout: 60_000 });
    assert.equal(await page.$$eval('.example[data-index="0"] .images', (b) => b.map((x) => (x as HTMLElement).dataset.feature)), ['Words', 'Features']);
    assert.is(await page.$$eval('.example[data-index="0"] .tokens mark', (m) => m.length), 6);
    assert.is(await page.$$eval('.example[data-index="0"] .column', (c) => c.length), 3);
    await page.fill('.custom-feature[data-feature="Words"] .custom-text', 'w3 w4 w9');
    await page.click('#custom-go');
    await page.waitForSelector('.example[data-index="-1"] .tokens mark', { timeout: 60_000 });
    assert.is(await page.textContent('.example[data-index="-1"] .tokens mark'), 'w3');
    const req = { example: 1, target: 0, method: 'FeatureAblation', arguments: {} };
    const browser = await inBrowser(page, req), server = await onServer(url, req);
    const err = relMaxError(browser.data, server);
    assert.ok(err <= 1e-4, `two inputs, FeatureAblation: browser vs server, relative max error ${err}`);
  });
});

test.run();
