// Text helpers (src/insights/text.ts): the vocabulary format, the tokenizer, Captum's token reference
// and visualize_text, against the shared sentiment vocabulary and Captum's formulas; Captum Insights'
// text and general features (src/insights/features.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TokenReferenceBase, VisualizationDataRecord, attributionColor, encodeText, parseVocabulary, summarizeTokenAttributions, tokenize, visualizeText } from '../src/insights/text.ts';
import { parseSafetensors } from '../src/io/safetensors.ts';
import { GeneralFeature, TextFeature, netContributions } from '../src/insights/features.ts';
import { REF_DIR } from './refdata.ts';

const test = suite('text');
const M = join(REF_DIR, 'models');

test('the reference sentences encode to the reference token ids (unknown words to unk, padded to the fixed length)', () => {
  const v = parseVocabulary(readFileSync(join(M, 'sentiment_vocab.json'), 'utf8'), 'sentiment_vocab.json');
  const { tensors, metadata } = parseSafetensors(new Uint8Array(readFileSync(join(M, 'sentiment_ref.safetensors'))));
  const tok = tensors.get('tokens')!, L = tok.shape[1];
  (JSON.parse(metadata.sentences) as string[]).forEach((s, i) => {
    const want = Array.from((tok.data as BigInt64Array).subarray(i * L, (i + 1) * L), Number);
    assert.equal(encodeText(s, v).ids, want, s);
  });
  const e = encodeText('Zzyzx was GREAT!', v);
  assert.equal(e.ids.slice(0, 4), [v.unk, v.vocab.indexOf('was'), v.vocab.indexOf('great'), v.unk]); // '!' is not in this vocabulary
  assert.equal(e.tokens.slice(0, 4), ['<unk>', 'was', 'great', '<unk>']);
  assert.is(e.ids.length, v.length);
  assert.equal(new TokenReferenceBase(v.pad).generateReference(3), [v.pad, v.pad, v.pad]);
});

test('tokenizer: lower case, words and punctuation apart, inner apostrophes kept', () => {
  assert.equal(tokenize("It's NOT bad, it's... good!"), ["it's", 'not', 'bad', ',', "it's", '.', '.', '.', 'good', '!']);
  assert.equal(tokenize('  '), []);
});

test('bad vocabularies and texts: one clear message each', () => {
  const cases: [() => unknown, string][] = [
    [() => parseVocabulary('{"vocab": ["<unk>", "a"], "unk": 0}', 'v.json'), 'v.json has no "pad" index'],
    [() => parseVocabulary('{"vocab": ["a"], "unk": 0, "pad": 3}', 'v.json'), '"pad" must be an index into its 1 tokens'],
    [() => parseVocabulary('not json', 'v.json'), 'v.json is not JSON'],
    [() => parseVocabulary('{"tokens": []}', 'v.json'), 'needs "vocab"'],
    [() => encodeText('', { vocab: ['<unk>', '<pad>'], unk: 0, pad: 1, length: 4 }), 'the text is empty'],
    [() => encodeText('a b c d e', { vocab: ['<unk>', '<pad>'], unk: 0, pad: 1, length: 4 }), 'the text has 5 tokens; the model reads at most 4'],
  ];
  for (const [fn, msg] of cases) {
    let got = '';
    try { fn(); } catch (e) { got = (e as Error).message; }
    assert.ok(got.includes(msg), `expected '${msg}', got '${got}'`);
  }
});

test("visualize_text: Captum's colour scale, its table and legend, words in order, HTML escaped", () => {
  // Captum's _get_color: hsl(120, 75%, 100 - int(50 a)%) above 0, hsl(0, 75%, 100 - int(-40 a)%) otherwise, clipped to [-1, 1].
  assert.is(attributionColor(0.5), 'hsl(120, 75%, 75%)');
  assert.is(attributionColor(-0.5), 'hsl(0, 75%, 80%)');
  assert.is(attributionColor(2), 'hsl(120, 75%, 50%)');
  assert.is(attributionColor(0), 'hsl(0, 75%, 100%)');
  assert.is(attributionColor(0.019), 'hsl(120, 75%, 100%)'); // int() truncates toward zero
  const html = visualizeText([new VisualizationDataRecord([0.9, -0.7, 0], 0.93, 'pos', 'neg', 'pos', 1.234, ['great', '<pad>', 'a<b'])]);
  for (const part of ['<th>True Label</th>', '<b>neg</b>', '<b>pos (0.93)</b>', '<b>1.23</b>', 'background-color: hsl(120, 75%, 55%);', ' great ', 'background-color: hsl(0, 75%, 72%);', ' #pad ', ' a&lt;b ', '<b>Legend: </b>']) {
    assert.ok(html.includes(part), `missing ${part}`);
  }
  assert.ok(html.indexOf(' great ') < html.indexOf(' #pad ') && html.indexOf(' #pad ') < html.indexOf(' a&lt;b '));
  assert.not.ok(visualizeText([], false).includes('Legend'));
  // The tutorial's summary: summed over the embedding, divided by the L2 norm over tokens.
  assert.equal(Array.from(summarizeTokenAttributions([1, 2, -3, -1, 0, 0], 3, 2)), [3 / 5, -4 / 5, 0]);
});

test('Captum Insights\' features: TextFeature sums over the embedding and scales by the largest magnitude, GeneralFeature by the L2 norm, contributions by the L1 norm of the sums; zero norms leave zeros', () => {
  const text = new TextFeature('Review', { visualizationTransform: (ids) => ids.map((i) => ['<pad>', 'good', 'bad'][i]) });
  const t = text.visualize([1, 1, -4, 0, 0.5, 0.5], 3, [1, 2, 0], 0.25); // [L 3, D 2]
  assert.equal(t.base, ['good', 'bad', '<pad>']);
  assert.equal(t.modified, [50, -100, 25]);
  assert.is(t.type, 'text');
  assert.is(t.contribution, 0.25);
  const wine = new GeneralFeature('Wine', ['alcohol', 'ash']);
  const g = wine.visualize([3, -4], [13.2, 2.456], -0.75);
  assert.equal(g.modified.map((v) => Math.round(v * 1e6) / 1e6), [60, -80]);
  assert.equal(g.base, ['alcohol: 13.20', 'ash: 2.46']);
  assert.equal(wine.visualize([0, 0], [1, 2], 0).modified, [0, 0]);
  assert.equal(netContributions([[1, 2], [-1], [0, 0]]), [0.75, -0.25, 0]);
  assert.equal(netContributions([[0], [0]]), [0, 0]);
  let msg = '';
  try { wine.visualize([1, 2, 3], [1, 2, 3], 0); } catch (e) { msg = (e as Error).message; }
  assert.ok(msg.includes('2 categories, 3 attributions'), msg);
});

test.run();
