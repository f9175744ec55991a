// The explorer over a text model and a table model (../shared/ref/models' sentiment CNN and wine MLP):
// what init offers, attributions through the JSON API against Captum's, the cards' scaled values,
// new texts and rows sent with a request, and bad ones answered 400 with one clear message.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromArray, noGrad, tidy } from '../src/autograd/index.ts';
import { decodeFloats } from '../src/insights/present.ts';
import { encodeText, parseVocabulary } from '../src/insights/text.ts';
import { assertClose, getGpu } from './helpers.ts';
import { REF_DIR, refTensors } from './refdata.ts';
import { severalFeaturesFixture, tableInsightsFixture, textInsightsFixture } from './insights-fixture.ts';
import { netContributions } from '../src/insights/features.ts';

type Served<T> = T & { url: string; close(): Promise<void> };
type TextServer = Served<Awaited<ReturnType<typeof textInsightsFixture>>>;
type TableServer = Served<Awaited<ReturnType<typeof tableInsightsFixture>>>;
let text: TextServer | null = null;
let table: TableServer | null = null;
async function textServer(): Promise<TextServer> {
  if (!text) {
    const f = await textInsightsFixture(await getGpu());
    text = { ...f, ...(await f.vis.serve({ port: 0 })) };
  }
  return text;
}
async function tableServer(): Promise<TableServer> {
  if (!table) {
    const f = await tableInsightsFixture(await getGpu());
    table = { ...f, ...(await f.vis.serve({ port: 0 })) };
  }
  return table;
}

async function call(url: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url + path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

test.after(async () => {
  await text?.close();
  await table?.close();
});

test('text: init offers the per-token layers and the methods that fit token ids; LayerIntegratedGradients at the embedding equals Captum\'s', async () => {
  const s = await textServer();
  const init = (await call(s.url, 'api/init')).body;
  assert.equal(init.features, [{ name: 'Text', type: 'text' }]);
  assert.equal(init.methods.map((m: { name: string }) => m.name), ['LayerIntegratedGradients', 'LayerGradientXActivation', 'Saliency', 'Occlusion', 'FeatureAblation']);
  const layer = init.methods[0].arguments.find((a: { name: string }) => a.name === 'layer');
  assert.is(layer.default, 'embedding');
  assert.ok(init.acceptsInput);
  assert.equal(init.inputShape, [24]);

  const ref = refTensors('models/sentiment_ref.safetensors');
  const vocab = parseVocabulary(readFileSync(join(REF_DIR, 'models', 'sentiment_vocab.json'), 'utf8'));
  const want = ref.get('lig_embedding_gl50')!.data as Float32Array, words = ref.get('word_attributions')!.data as Float32Array;
  for (let i = 0; i < 4; i++) {
    const r = await call(s.url, 'api/attribute', { example: i, target: 1, method: 'LayerIntegratedGradients', arguments: { nSteps: 50 }, raw: true });
    assert.is(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.attribution.shape, [1, 24, 32]);
    assertClose(decodeFloats(r.body.attribution.data), want.subarray(i * 768, (i + 1) * 768), 1e-3, `sentence ${i} LIG`);
    const delta = (ref.get('lig_embedding_gl50_delta')!.data as Float32Array)[i];
    assert.ok(Math.abs(r.body.attribution.delta - delta) < 1e-4, `sentence ${i}: convergence delta ${r.body.attribution.delta}, Captum's ${delta}`);
    // The card: the sentence's words, then pads; each token's sum over the embedding over the largest magnitude, x100.
    const f = r.body.attribution.features[0].feature;
    assert.equal(f.base, encodeText(s.sentences[i], vocab).tokens);
    assert.is(f.base[23], '<pad>');
    const w = words.subarray(i * 24, (i + 1) * 24), max = Math.max(...Array.from(w, Math.abs));
    assertClose(f.modified, Array.from(w, (v) => (v / max) * 100), 1e-3, `sentence ${i} card`);
    assert.is(r.body.inputs[0].tokens.length, 24);
  }
});

test('text: a typed sentence is attributed like the same dataset text; Occlusion over one-token windows is each token\'s logit drop; bad texts are 400', async () => {
  const s = await textServer();
  const q = { method: 'Occlusion', arguments: { slidingWindowShapes: [1], strides: [1] }, raw: true, target: 1 };
  const fromDataset = (await call(s.url, 'api/attribute', { example: 1, ...q })).body;
  const typed = await call(s.url, 'api/attribute', { input: s.sentences[1].toUpperCase(), ...q });
  assert.is(typed.status, 200, JSON.stringify(typed.body));
  assert.is(typed.body.index, -1);
  assert.equal(decodeFloats(typed.body.attribution.data), decodeFloats(fromDataset.attribution.data));
  // Each window replaces one token by the pad: the positive logit drops by the token's attribution.
  const vocab = parseVocabulary(readFileSync(join(REF_DIR, 'models', 'sentiment_vocab.json'), 'utf8'));
  const ids = encodeText(s.sentences[1], vocab).ids;
  const ctx = await getGpu();
  const logit = (t: number[]) => tidy(async () => (await noGrad(() => s.model.net.call(fromArray(ctx, Float32Array.from(t), [1, 24]))).data())[1]);
  const full = await logit(ids), occl = decodeFloats(typed.body.attribution.data);
  for (const k of [0, 2, 5]) assert.ok(Math.abs(occl[k] - (full - await logit(ids.map((v, j) => (j === k ? vocab.pad : v))))) < 1e-5, `token ${k}`);
  // No target: the typed text is attributed to its top prediction.
  const top = await call(s.url, 'api/attribute', { input: 'a terrible boring mess', method: 'FeatureAblation' });
  assert.is(top.body.target.index, top.body.predictions[0].index);

  for (const [input, message] of [
    ['', 'the text is empty'],
    ['word '.repeat(30), 'the model reads at most 24'],
    [42, 'input must be the text as a string'],
  ] as const) {
    const r = await call(s.url, 'api/attribute', { input, method: 'Occlusion' });
    assert.is(r.status, 400);
    assert.match(r.body.error, message);
  }
  const guided = await call(s.url, 'api/attribute', { example: 0, target: 1, method: 'GuidedBackprop' });
  assert.is(guided.status, 400);
  assert.match(guided.body.error, 'GuidedBackprop does not fit a text input; methods: LayerIntegratedGradients');
  // Saliency over tokens: the gradient at the embedding, in absolute value, per token and dimension.
  const sal = await call(s.url, 'api/attribute', { example: 0, target: 1, method: 'Saliency', raw: true });
  const signed = await call(s.url, 'api/attribute', { example: 0, target: 1, method: 'LayerGradientXActivation', arguments: { multiplyByInputs: false }, raw: true });
  assert.equal(sal.body.attribution.shape, [1, 24, 32]);
  assert.equal(Array.from(decodeFloats(sal.body.attribution.data)), Array.from(decodeFloats(signed.body.attribution.data), Math.abs));
  const both = await call(s.url, 'api/attribute', { example: 0, input: 'good', target: 1, method: 'Occlusion' });
  assert.match(both.body.error, 'give one of example');
  // Labels from the text file: example 2 is labelled with the class the model does not predict.
  const wrong = (await call(s.url, 'api/fetch', { method: null, filter: { prediction: 'incorrect' } })).body;
  assert.equal(wrong.examples.map((e: { index: number }) => e.index), [2]);
});

test('table: init lists the categories and the methods for rows; IG, Saliency and FeatureAblation through the API equal Captum\'s on eight wines', async () => {
  const s = await tableServer();
  const init = (await call(s.url, 'api/init')).body;
  assert.is(init.features[0].type, 'general');
  assert.is(init.features[0].categories.length, 13);
  assert.is(init.features[0].categories[12], 'proline');
  assert.equal(init.methods.map((m: { name: string }) => m.name), ['IntegratedGradients', 'Saliency', 'InputXGradient', 'FeatureAblation']);
  const cases = [['IntegratedGradients', { nSteps: 50 }, 'ig_gl50'], ['Saliency', {}, 'saliency'], ['FeatureAblation', {}, 'feature_ablation']] as const;
  for (const [method, args, key] of cases) {
    const want = s.ref.get(key)!.data as Float32Array;
    for (let i = 0; i < 8; i++) {
      const r = await call(s.url, 'api/attribute', { example: i, target: s.targets[i], method, arguments: args, raw: true });
      assert.is(r.status, 200, JSON.stringify(r.body));
      const got = decodeFloats(r.body.attribution.data), exp = want.subarray(i * 13, (i + 1) * 13);
      assertClose(got, exp, 1e-3, `${method} row ${i}`);
      if (i === 0) {
        // The card: each column's attribution over the L2 norm, x100; the row's values before standardization.
        const norm = Math.hypot(...Array.from(exp));
        assertClose(r.body.attribution.features[0].feature.modified, Array.from(exp, (v) => (v / norm) * 100), 1e-3, `${method} card`);
        assert.is(r.body.inputs[0].values[0].name, 'alcohol');
      }
    }
  }
});

test('table: a row sent as an object equals the dataset\'s row; a missing, unknown or non-numeric column is 400', async () => {
  const s = await tableServer();
  const ex = (await call(s.url, 'api/attribute', { example: 3, target: 0, method: 'IntegratedGradients', raw: true })).body;
  const row = Object.fromEntries(ex.inputs[0].values.map((v: { name: string; value: number }) => [v.name, v.value]));
  const sent = await call(s.url, 'api/attribute', { input: row, target: 0, method: 'IntegratedGradients', raw: true });
  assert.is(sent.status, 200, JSON.stringify(sent.body));
  assert.equal(decodeFloats(sent.body.attribution.data), decodeFloats(ex.attribution.data));
  const { proline, ...missing } = row; void proline;
  for (const [input, message] of [
    [missing, "input has no value for 'proline'"],
    [{ ...row, colour: 1 }, "input has no category 'colour'"],
    [{ ...row, ash: 'high' }, 'input.ash must be a finite number, got "high"'],
    [[1, 2, 3], 'input has 3 values; give 13'],
  ] as const) {
    const r = await call(s.url, 'api/attribute', { input, method: 'Saliency' });
    assert.is(r.status, 400);
    assert.match(r.body.error, message);
  }
  const cam = await call(s.url, 'api/attribute', { example: 0, target: 0, method: 'LayerGradCam' });
  assert.match(cam.body.error, 'LayerGradCam does not fit a general input');
});

test('several features (a model of two inputs): Captum\'s IG, Saliency and FeatureAblation per input, each feature\'s card, the contributions across features; a new pair of rows; bad ones are 400', async () => {
  const { vis, ref, targets } = await severalFeaturesFixture(await getGpu(), 'two_tables');
  const init = await vis.init();
  assert.equal(init.features.map((f) => [f.name, f.type]), [['Labs', 'general'], ['Vitals', 'general']]);
  assert.equal(init.methods.map((m) => m.name), ['IntegratedGradients', 'Saliency', 'InputXGradient', 'FeatureAblation']);
  assert.equal(init.inputShapes, [[4], [3]]);
  for (const [method, args, key] of [['IntegratedGradients', { nSteps: 50 }, 'ig'], ['Saliency', {}, 'saliency'], ['FeatureAblation', {}, 'fa']] as const) {
    const labs = ref(`${key}_labs`), vitals = ref(`${key}_vitals`);
    for (let n = 0; n < 5; n++) {
      const r = await vis.attribute({ example: n, target: targets[n], method, arguments: args, raw: true });
      const got = decodeFloats(r.attribution!.data!), want = [labs.subarray(n * 4, n * 4 + 4), vitals.subarray(n * 3, n * 3 + 3)];
      assertClose(got.subarray(0, 4), want[0], 1e-4, `${method} labs ${n}`);
      assertClose(got.subarray(4), want[1], 1e-4, `${method} vitals ${n}`);
      const [a, b] = r.attribution!.features;
      assertClose(a.feature!.modified, Array.from(want[0], (v) => (v / Math.hypot(...want[0])) * 100), 1e-3, 'the Labs card');
      assertClose(b.feature!.modified, Array.from(want[1], (v) => (v / Math.hypot(...want[1])) * 100), 1e-3, 'the Vitals card');
      assertClose(r.attribution!.contributions.map((c) => c.value), netContributions(want), 1e-3, 'contributions across features');
    }
  }
  const ex = await vis.attribute({ example: 2, target: 1, method: 'IntegratedGradients', raw: true });
  const row = (k: number) => Object.fromEntries(ex.inputs[k].values!.map((v) => [v.name, v.value]));
  const sent = await vis.attribute({ input: { Labs: row(0), Vitals: Object.values(row(1)) }, target: 1, method: 'IntegratedGradients', raw: true });
  assert.equal(decodeFloats(sent.attribution!.data!), decodeFloats(ex.attribution!.data!));
  for (const [input, message] of [
    [{ Labs: row(0) }, "input has no value for feature 'Vitals'"],
    [{ Labs: row(0), Vitals: [1, 2], Extra: 1 }, "input has no feature 'Extra'"],
    [{ Labs: row(0), Vitals: [1, 2] }, 'input.Vitals has 2 values; give 3'],
    [row(0), "input has no feature 'a'"],
  ] as const) {
    let got = '';
    try { await vis.attribute({ input, method: 'Saliency' }); } catch (e) { got = (e as Error).message; }
    assert.match(got, message);
  }
});

test('several features with token ids: Feature Ablation alone (the pad token and zero as baselines) equals Captum\'s; gradient methods are refused', async () => {
  const { vis, ref, targets } = await severalFeaturesFixture(await getGpu(), 'text_and_table');
  const init = await vis.init();
  assert.equal(init.methods.map((m) => m.name), ['FeatureAblation']);
  for (let n = 0; n < 3; n++) {
    const r = await vis.attribute({ example: n, target: targets[n], method: 'FeatureAblation', raw: true });
    const got = decodeFloats(r.attribution!.data!);
    assertClose(got.subarray(0, 6), ref('fa_tokens').subarray(n * 6, n * 6 + 6), 1e-4, `tokens ${n}`);
    assertClose(got.subarray(6), ref('fa_features').subarray(n * 3, n * 3 + 3), 1e-4, `features ${n}`);
    if (n === 0) assert.equal(r.inputs[0].tokens, ['w2', 'w5', 'w7', '<pad>', '<pad>', '<pad>']);
  }
  let got = '';
  try { await vis.attribute({ example: 0, target: 0, method: 'IntegratedGradients' }); } catch (e) { got = (e as Error).message; }
  assert.match(got, 'IntegratedGradients does not fit inputs of several features with token ids; methods: FeatureAblation');
});

test.run();
