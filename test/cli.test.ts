import { suite } from 'uvu';
import * as A from '../src/attr/index.ts';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.ts';
import { readStateDict } from '../src/io/weights.ts';
import { loadOnnxClassifier } from '../src/io/models.ts';
import { encodeText, parseVocabulary } from '../src/insights/text.ts';
import { parseArgs } from '../src/cli/args.ts';
import { parseShard, shardOf } from '../src/cli/batch.ts';
import { PNG } from 'pngjs';
import { fromArray, tidy, tuningKey } from '../src/autograd/index.ts';
import { convGeometries } from '../src/nn/tune.ts';
import { assertClose, getGpu, relL2Error, relMaxError } from './helpers.ts';
import { REF_DIR, ref, resnet18Seed0 } from './refdata.ts';

const test = suite('cli');
const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'glimpse.js');
const tmp = mkdtempSync(join(tmpdir(), 'glimpse-cli-'));
const TUNING = join(tmp, 'tuning.json'); // not the user's cache

function glimpse(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, GLIMPSE_TUNING: TUNING } });
  return { code: r.status, out: r.stdout, err: r.stderr.split('\n').filter((l) => l && !l.startsWith('Warning:')).join('\n') };
}

test('arguments: negative numbers are values, unknown flags and bad values are errors', () => {
  const a = parseArgs(['--baselines', '-0.5', '--strides=3,8,8', '--flag'], { baselines: 'number', strides: 'numbers', flag: 'boolean' }, 'x');
  if (a.baselines !== -0.5 || (a.strides as number[]).join() !== '3,8,8' || a.flag !== true) throw new Error(JSON.stringify(a));
  for (const [argv, msg] of [[['--nope', '1'], 'no option --nope'], [['--baselines'], 'needs a value'], [['--baselines', 'abc'], 'must be a number']] as const) {
    let got = '';
    try { parseArgs([...argv], { baselines: 'number' }, 'x'); } catch (e) { got = (e as Error).message; }
    if (!got.includes(msg)) throw new Error(`expected '${msg}', got '${got}'`);
  }
});

test('predict with a .pth and an input tensor prints the top classes and saves the logits', () => {
  const save = join(tmp, 'logits.safetensors');
  const r = glimpse('predict', '--weights', join(REF_DIR, 'resnet18_seed0.pth'), '--arch', 'resnet18',
    '--input', `${join(REF_DIR, 'resnet18_chelsea_64.safetensors')}:input`, '--top', '3', '--save', save);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.err}`);
  const lines = r.out.trim().split('\n');
  const want = ref('resnet18_chelsea_64.safetensors', 'logits').data;
  const best = [...want.keys()].sort((i, j) => want[j] - want[i])[0];
  if (lines.length !== 3 || !lines[0].trim().startsWith(String(best))) throw new Error(r.out);
  const saved = parseSafetensors(new Uint8Array(readFileSync(save))).tensors.get('logits')!;
  assertClose(saved.data as Float32Array, want, 1e-3, 'saved logits');
});

test('attribute writes the attributions and, with --png, a picture; a method refuses options it does not take', async () => {
  const save = join(tmp, 'sal.safetensors'), png = join(tmp, 'sal.png');
  const input = `${join(REF_DIR, 'resnet18_chelsea_64.safetensors')}:input`;
  const r = glimpse('attribute', '--weights', join(REF_DIR, 'resnet18_seed0.pth'), '--arch', 'resnet18', '--input', input,
    '--method', 'saliency', '--target', '281', '--save', save, '--png', png, '--sign', 'absolute_value');
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.err}`);
  assertClose(parseSafetensors(new Uint8Array(readFileSync(save))).tensors.get('attributions')!.data as Float32Array, ref('resnet18_chelsea_64.safetensors', 'saliency').data, 1e-3, 'saved saliency');
  const pic = PNG.sync.read(readFileSync(png));
  if (pic.width < 64 || pic.height < 64) throw new Error(`picture ${pic.width}x${pic.height}`);
  // Every pass through Winograd F(2x2) (the forward too): the same attributions within rounding.
  const wino = glimpse('attribute', '--weights', join(REF_DIR, 'resnet18_seed0.pth'), '--arch', 'resnet18', '--input', input,
    '--method', 'saliency', '--target', '281', '--save', save, '--winograd', '2');
  if (wino.code !== 0) throw new Error(`exit ${wino.code}: ${wino.err}`);
  assertClose(parseSafetensors(new Uint8Array(readFileSync(save))).tensors.get('attributions')!.data as Float32Array, ref('resnet18_chelsea_64.safetensors', 'saliency').data, 1e-3, 'saved saliency, --winograd 2');
  // f16 input gradients (--precision f32,f16): within f16's rounding of Captum's, and not f32's bits.
  if ((await getGpu()).shaderF16) {
    const half = glimpse('attribute', '--weights', join(REF_DIR, 'resnet18_seed0.pth'), '--arch', 'resnet18', '--input', input,
      '--method', 'saliency', '--target', '281', '--save', save, '--precision', 'f32,f16');
    if (half.code !== 0) throw new Error(`exit ${half.code}: ${half.err}`);
    const got = parseSafetensors(new Uint8Array(readFileSync(save))).tensors.get('attributions')!.data as Float32Array;
    const err = relL2Error(got, ref('resnet18_chelsea_64.safetensors', 'saliency').data);
    if (!(err > 1e-4 && err < 3e-2)) throw new Error(`saliency with f16 input gradients: relative L2 error ${err} (f16's rounding gives about 1e-2)`);
  }
  const bad = glimpse('attribute', '--weights', join(REF_DIR, 'resnet18_seed0.pth'), '--arch', 'resnet18', '--input', input, '--method', 'saliency', '--n-steps', '5', '--save', save);
  if (bad.code !== 2 || !bad.err.includes('--n-steps is not an option of saliency')) throw new Error(`exit ${bad.code}: ${bad.err}`);
});

test('--autotune reuses the tiles saved for this adapter; a corrupt tuning cache is reported and changes nothing else', async () => {
  const ctx = await getGpu();
  const { net } = await resnet18Seed0(ctx);
  // Every convolution of ResNet-18 at the tuning batch, as if tuned before (tuning itself: test/tune.test.ts).
  const keys = convGeometries(ctx, net, [16, 3, 224, 224]).flatMap((g) => [tuningKey('forward', g), tuningKey('grad_input', g)]);
  const cache = JSON.stringify({ [ctx.adapterDescription]: Object.fromEntries(keys.map((k) => [k, { TM: 16, TN: 8, WG: 8 }])) });
  writeFileSync(TUNING, cache);
  const args = ['predict', '--weights', join(REF_DIR, 'resnet18_seed0.pth'), '--arch', 'resnet18', '--input', `${join(REF_DIR, 'resnet18_chelsea_64.safetensors')}:input`, '--top', '1'];
  const want = ref('resnet18_chelsea_64.safetensors', 'logits').data;
  const best = String([...want.keys()].sort((i, j) => want[j] - want[i])[0]);
  const tuned = glimpse(...args, '--autotune');
  if (tuned.code !== 0 || !tuned.err.includes(`all convolutions already tuned in ${TUNING}`) || !tuned.out.trim().startsWith(best)) throw new Error(`exit ${tuned.code}: ${tuned.err}\n${tuned.out}`);
  if (readFileSync(TUNING, 'utf8') !== cache) throw new Error('the cache was rewritten with nothing new');
  writeFileSync(TUNING, '{"truncated');
  const corrupt = glimpse(...args);
  if (corrupt.code !== 0 || !corrupt.err.includes(`ignoring the tuning cache ${TUNING}`) || !corrupt.out.trim().startsWith(best)) throw new Error(`exit ${corrupt.code}: ${corrupt.err}\n${corrupt.out}`);
});

test('user mistakes print one line and exit non-zero, without a stack trace', () => {
  const bad = join(tmp, 'bad.png');
  writeFileSync(bad, 'not an image');
  const cases: [string[], string][] = [
    [['predict', '--image', join(tmp, 'missing.png')], 'no such file'],
    [['predict', '--image', bad], 'neither a PNG nor a JPEG'],
    [['predict', '--weights', join(REF_DIR, 'resnet18_seed0.pth'), '--arch', 'resnet99', '--image', bad], "unknown --arch 'resnet99'"],
    [['predict', '--weights', join(REF_DIR, 'resnet18_seed0.pth'), '--arch', 'resnet50', '--input', `${join(REF_DIR, 'resnet18_chelsea_64.safetensors')}:input`], 'the weights are a resnet18 (their keys have its blocks), not a resnet50: use --arch resnet18'],
    [['predict', '--input', `${join(REF_DIR, 'resnet18_chelsea_64.safetensors')}:nokey`], "has no tensor 'nokey'"],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['predict', '--weights', join(REF_DIR, 'resnet18_seed0.pth'), '--arch', 'resnet18', '--winograd', '3', '--image', bad], "--winograd: expected off, one tile (0, 2 or 4)"],
    [['predict', '--weights', join(REF_DIR, 'resnet18_seed0.pth'), '--arch', 'resnet18', '--precision', 'fp16', '--image', bad], "--precision: expected f32, f16"],
  ];
  for (const [args, msg] of cases) {
    const r = glimpse(...args);
    if (r.code === 0 || !r.err.includes(msg) || r.err.includes('    at ')) throw new Error(`${args.join(' ')}: exit ${r.code}, stderr: ${r.err}`);
  }
});

test('inputs, options and weights that used to mislead: one clear line, exit 2 for usage and 1 otherwise, before any attribution runs', async () => {
  const r18 = ['--weights', join(REF_DIR, 'resnet18_seed0.pth'), '--arch', 'resnet18'];
  const x = ref('resnet18_chelsea_64.safetensors', 'input');
  const tensors = (key: string, t: { dtype: 'F32' | 'I64'; shape: number[]; data: Float32Array | BigInt64Array }) => {
    const f = join(tmp, `${key}.safetensors`);
    writeFileSync(f, serializeSafetensors({ [key]: t }));
    return `${f}:${key}`;
  };
  const nan = Float32Array.from(x.data); nan[7] = NaN;
  const bomb = join(tmp, 'bomb.png');
  const png = readFileSync(join(REF_DIR, 'images', 'chelsea.png'));
  png.writeUInt32BE(15000, 16); png.writeUInt32BE(15000, 20);
  writeFileSync(bomb, png);
  const { tensors: sd } = await readStateDict(join(REF_DIR, 'resnet18_seed0.pth'));
  sd.set('conv1.weight', { dtype: 'I64', shape: sd.get('conv1.weight')!.shape, data: new BigInt64Array(sd.get('conv1.weight')!.data.length) });
  const intWeights = join(tmp, 'int-weights.safetensors');
  writeFileSync(intWeights, serializeSafetensors(sd));
  const attr = ['attribute', ...r18, '--input', `${join(REF_DIR, 'resnet18_chelsea_64.safetensors')}:input`, '--target', '281'];
  const cases: [string[], number, string][] = [
    [['predict', ...r18, '--input', tensors('ids', { dtype: 'I64', shape: [1, 3, 64, 64], data: new BigInt64Array(3 * 64 * 64) })], 2, 'holds int64 values; the model takes a normalized float32 [N, 3, H, W] tensor'],
    [['predict', ...r18, '--input', tensors('empty', { dtype: 'F32', shape: [0, 3, 64, 64], data: new Float32Array(0) })], 2, 'holds no examples (batch 0)'],
    [['predict', ...r18, '--input', tensors('nan', { dtype: 'F32', shape: x.shape, data: nan })], 2, 'holds NaN at index 7; the input must be finite'],
    [['predict', '--weights', intWeights, '--arch', 'resnet18', '--input', `${join(REF_DIR, 'resnet18_chelsea_64.safetensors')}:input`], 1, 'the weights must be floating point, but conv1.weight (int64) is not'],
    [['predict', ...r18, '--image', bomb], 1, 'is 15000 x 15000 = 225000000 pixels, over the limit of 89478485'],
    [[...attr, '--method', 'integrated-gradients', '--n-steps', '1000000', '--save', join(tmp, 'x.safetensors')], 2, '--n-steps 1000000 is over the limit of 10000'],
    [[...attr, '--method', 'saliency', '--save', join(tmp, 'missing', 'x.safetensors')], 2, 'the folder'],
    [[...attr, '--method', 'saliency', '--save', join(tmp, 'x.safetensors'), '--png', join(tmp, 'x.png'), '--outlier-perc', '150'], 2, '--outlier-perc must be at least 0 and below 100'],
    [[...attr, '--method', 'layer-gradcam', '--layer', 'layer4', '--interpolate', '100000,100000', '--save', join(tmp, 'x.safetensors')], 2, 'each side is at most 8192'],
  ];
  for (const [args, code, msg] of cases) {
    const r = glimpse(...args);
    if (r.code !== code || !r.err.includes(msg) || r.err.includes('    at ')) throw new Error(`${args.slice(-4).join(' ')}: exit ${r.code}, stderr: ${r.err}`);
  }
});

/**
 * Runs `glimpse insights ARGS` until it prints its URL, calls `use(url, output)` (what it has printed,
 * read as it grows), then stops it with SIGINT and expects exit 0.
 */
async function withInsights(args: string[], use: (url: string, output: { out: string; err: string }) => Promise<void>): Promise<void> {
  const child = spawn(process.execPath, [BIN, 'insights', ...args, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const t0 = Date.now();
    while (!/http:\/\/127\.0\.0\.1:\d+\//.test(out)) {
      if (Date.now() - t0 > 120_000 || child.exitCode !== null) throw new Error(`no URL printed: ${out} ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await use(/http:\/\/127\.0\.0\.1:\d+\//.exec(out)![0], { get out() { return out; }, get err() { return err; } });
  } finally {
    child.kill('SIGINT');
  }
  const code = await exited;
  if (code !== 0) throw new Error(`insights exited ${code} after SIGINT: ${err}`);
}

test('insights serves a folder with labels until SIGINT; a bad folder or labels file is one clear error', async () => {
  const dir = join(tmp, 'photos');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(REF_DIR, 'images', 'chelsea.png'), join(dir, 'chelsea.png'));
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
  mkdirSync(join(dir, 'folder.png'), { recursive: true }); // a folder named like an image
  writeFileSync(join(dir, 'broken.jpg'), readFileSync(join(REF_DIR, 'images', 'chelsea.png')).subarray(0, 100)); // unreadable
  const labels = join(tmp, 'labels.json');
  writeFileSync(labels, JSON.stringify({ 'chelsea.png': 'Egyptian cat' }));
  const model = ['--weights', join(REF_DIR, 'resnet18_seed0.pth'), '--arch', 'resnet18'];
  // Bound to every interface: it warns, and prints the machine's own addresses rather than 0.0.0.0.
  await withInsights(['--images', dir, '--labels', labels, ...model, '--host', '0.0.0.0'], async (url, output) => {
    const init = await (await fetch(`${url}api/init`)).json();
    if (init.examples !== 1 || init.models[0].name !== 'resnet18') throw new Error(JSON.stringify(init).slice(0, 200));
    const res = await (await fetch(`${url}api/fetch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'Saliency' }) })).json();
    const e = res.examples[0];
    if (e.label.index !== 285 || e.target.index !== 285 || !e.attribution.features[0].heatMap.startsWith('data:image/png')) throw new Error(JSON.stringify(e).slice(0, 300));
    const { out, err } = output;
    if (out.includes('0.0.0.0') || !err.includes('with no authentication')) throw new Error(`0.0.0.0: ${out} ${err}`);
    if (!/skipped 2 of .* not readable images: broken\.jpg: .*; folder\.png: not a file/.test(err) && !/skipped 2 of .* folder\.png: not a file; broken\.jpg/.test(err)) throw new Error(`skipped files: ${err}`);
  });
  writeFileSync(labels, JSON.stringify({ 'cat.png': 285 }));
  const bad = glimpse('insights', '--images', dir, '--labels', labels, ...model, '--port', '0');
  if (bad.code !== 1 || !bad.err.includes("labels 'cat.png', which is not an image in")) throw new Error(`exit ${bad.code}: ${bad.err}`);
  const missing = glimpse('insights', '--images', join(tmp, 'nowhere'), ...model);
  if (missing.code !== 1 || !missing.err.includes('is not a folder')) throw new Error(`exit ${missing.code}: ${missing.err}`);
});

test('insights over texts (--text-file, --vocab) and table rows (--csv, --normalize); bad files are one clear line each', async () => {
  const M = join(REF_DIR, 'models'), textModel = join(M, 'sentiment_cnn.onnx'), vocab = join(M, 'sentiment_vocab.json'), wine = join(M, 'wine_mlp.onnx');
  const texts = join(tmp, 'texts.txt');
  writeFileSync(texts, 'positive\ta superb film\n\nthe plot was a mess\n');
  await withInsights(['--model', textModel, '--text-file', texts, '--vocab', vocab], async (url) => {
    const init = await (await fetch(`${url}api/init`)).json();
    if (init.examples !== 2 || init.features[0].type !== 'text' || init.classes.join() !== 'negative,positive') throw new Error(JSON.stringify(init).slice(0, 300));
    const res = await (await fetch(`${url}api/fetch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'Occlusion' }) })).json();
    const [a, b] = res.examples;
    if (a.label?.name !== 'positive' || b.label !== null || a.inputs[0].tokens.slice(0, 3).join(' ') !== 'a superb film' || a.attribution.features[0].feature.modified.length !== 24) throw new Error(JSON.stringify(res).slice(0, 400));
  });
  const norm = join(tmp, 'wine_norm_insights.json');
  const wr = parseSafetensors(new Uint8Array(readFileSync(join(M, 'wine_ref.safetensors')))).tensors;
  writeFileSync(norm, JSON.stringify({ mean: Array.from(wr.get('mean')!.data as Float32Array), std: Array.from(wr.get('std')!.data as Float32Array) }));
  await withInsights(['--model', wine, '--csv', join(M, 'wine.csv'), '--normalize', norm, '--classes', 'barolo,grignolino,barbera', '--max-examples', '20'], async (url) => {
    const init = await (await fetch(`${url}api/init`)).json();
    if (init.examples !== 20 || init.features[0].categories.length !== 13 || init.classes[2] !== 'barbera') throw new Error(JSON.stringify(init).slice(0, 300));
    const r = await (await fetch(`${url}api/attribute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ example: 0, target: 0, method: 'IntegratedGradients' }) })).json();
    if (r.label.name !== 'barolo' || Math.abs(r.inputs[0].values[0].value - 14.23) > 1e-5 || r.attribution.features[0].feature.modified.length !== 13) throw new Error(JSON.stringify(r).slice(0, 300));
  });

  const file = (name: string, text: string) => { writeFileSync(join(tmp, name), text); return join(tmp, name); };
  const noPad = file('nopad.json', JSON.stringify({ vocab: ['<unk>', 'good'], unk: 0, length: 4 }));
  const cases: [string[], string][] = [
    [['--model', textModel, '--text-file', file('long.txt', 'word '.repeat(30)), '--vocab', vocab], 'long.txt line 1: the text has 30 tokens; the model reads at most 24'],
    [['--model', textModel, '--text-file', file('empty.txt', '\n \n'), '--vocab', vocab], 'empty.txt holds no text'],
    [['--model', textModel, '--text-file', file('labelonly.txt', 'good\npositive\t \n'), '--vocab', vocab], "line 2: the text is empty"],
    [['--model', textModel, '--text-file', texts, '--vocab', noPad], 'has no "pad" index'],
    [['--model', textModel, '--text-file', file('badlabel.txt', 'great\ta fine film\n'), '--vocab', vocab], "label \"great\" is neither a class index 0..1 nor a class name (negative, positive)"],
    [['--model', textModel, '--text-file', texts], '--text-file needs --vocab'],
    [['--model', wine, '--csv', file('gap.csv', 'a,b,c,d,e,f,g,h,i,j,k,l,m,target\n1,2,3,4,5,6,7,8,9,10,11,12,,0\n')], "row 1, column 'm': '' is not a number (missing value)"],
    [['--model', wine, '--csv', file('word.csv', 'a,b,c,d,e,f,g,h,i,j,k,l,m,target\n1,2,3,4,5,6,7,8,9,10,11,12,lots,0\n')], "column 'm': 'lots' is not a number"],
    [['--model', wine, '--csv', file('narrow.csv', 'a,b,target\n1,2,0\n')], 'has 3 feature columns (a, b, target); the model takes 13'],
    [['--model', wine, '--csv', join(M, 'wine.csv'), '--text-file', texts], 'give one dataset, not --text-file and --csv'],
    [['--model', textModel, '--csv', join(M, 'wine.csv')], '--csv needs a model of numeric features; this one takes integers (token ids: use --text with --vocab) [batch, 24]'],
    [['--model', wine, '--text-file', texts, '--vocab', vocab], '--text-file needs a model of token ids; this one takes floats (features: use --csv) [batch, 13]'],
  ];
  for (const [args, message] of cases) {
    const r = glimpse('insights', ...args, '--port', '0');
    const errors = r.err.split('\n').filter((l) => l.startsWith('glimpse: error:'));
    if (r.code !== 2 || errors.length !== 1 || !errors[0].includes(message)) throw new Error(`${args.join(' ')}: exit ${r.code}: ${r.err}`);
  }
});

test('shards: --shard auto reads a Kubernetes Indexed Job\'s or a Slurm array\'s index; an input\'s shard depends on its path alone', () => {
  assert.equal(parseShard({ shard: 'auto', shards: 4 }, { JOB_COMPLETION_INDEX: '3' }), { index: 3, count: 4 });
  assert.equal(parseShard({ shard: 'auto' }, { SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_COUNT: '5', SLURM_ARRAY_TASK_MIN: '1' }), { index: 4, count: 5 });
  assert.equal(parseShard({ shard: '2/7' }, {}), { index: 2, count: 7 });
  for (const [a, env, msg] of [[{ shard: 'auto' }, {}, 'neither is set'], [{ shard: 'auto' }, { JOB_COMPLETION_INDEX: '0' }, 'needs --shards N'], [{ shard: '1-2' }, {}, 'must be I/N']] as const) {
    let m = '';
    try { parseShard(a, env); } catch (e) { m = (e as Error).message; }
    assert.match(m, msg);
  }
  const files = Array.from({ length: 300 }, (_, i) => `d${i % 7}/img${i}.png`);
  const shards = files.map((f) => shardOf(f, 3));
  assert.equal([...files].reverse().map((f) => shardOf(f, 3)), [...shards].reverse(), 'the order of the folder does not matter');
  for (let k = 0; k < 3; k++) assert.ok(shards.filter((x) => x === k).length > 70, 'the shards are near even');
});

test('a folder in one run: outputs equal single runs, a corrupt image is recorded and skipped; killed with SIGKILL and rerun, every output is whole and equal; three shards make one run', async () => {
  const dir = join(tmp, 'batch-in');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  const png = readFileSync(join(REF_DIR, 'images', 'chelsea.png'));
  for (const f of ['a.png', 'b.png', 'sub/c.png', 'sub/d.png']) copyFileSync(join(REF_DIR, 'images', 'chelsea.png'), join(dir, f));
  writeFileSync(join(dir, 'b.png'), readFileSync(join(REF_DIR, 'images', 'chelsea.png'))); // same bytes, another name
  writeFileSync(join(dir, 'broken.png'), png.subarray(0, 100));
  const model = ['--model', join(REF_DIR, 'models', 'squeezenet1_1_seed0.onnx'), '--size', '64', '--resize', '64'];
  const method = ['--method', 'integrated-gradients', '--n-steps', '20', '--target', '281'];
  const out = join(tmp, 'batch-out');
  const r = glimpse('attribute', ...model, ...method, '--images', dir, '--out', out);
  if (r.code !== 0 || !r.out.includes('4 attributed, 0 already done, 1 failed')) throw new Error(`exit ${r.code}: ${r.out} ${r.err}`);
  const index = readFileSync(join(out, 'index.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(index.map((l) => l.file), ['a.png', 'b.png', 'broken.png', 'sub/c.png', 'sub/d.png']);
  assert.match(index[2].error, 'not a readable PNG');
  assert.is(index[0].target, 281);
  const single = join(tmp, 'single.safetensors');
  const singleFigure = join(tmp, 'single.png');
  const s = glimpse('attribute', ...model, ...method, '--image', join(dir, 'sub/c.png'), '--save', single, '--png', singleFigure, '--viz', 'blended_heat_map');
  if (s.code !== 0) throw new Error(`exit ${s.code}: ${s.err}`);
  const read = (f: string) => parseSafetensors(new Uint8Array(readFileSync(f))).tensors.get('attributions')!.data as Float32Array;
  assert.equal(Array.from(read(join(out, 'sub/c.png.safetensors'))), Array.from(read(single)), 'a batch output equals the single run');

  // Three images per pass: IG's steps of three images share batches, so sums group differently: equal within rounding.
  const shared = join(tmp, 'batch-shared');
  const p3 = glimpse('attribute', ...model, ...method, '--images', dir, '--out', shared, '--images-per-pass', '3', '--viz', 'blended_heat_map');
  if (p3.code !== 0 || !p3.out.includes('4 attributed')) throw new Error(`--images-per-pass 3: ${p3.out} ${p3.err}`);
  for (const f of ['a.png', 'b.png', 'sub/c.png', 'sub/d.png']) {
    const err = relMaxError(read(join(shared, `${f}.safetensors`)), read(join(out, `${f}.safetensors`)));
    assert.ok(err < 1e-4, `${f} with 3 images per pass: relative max error ${err}`);
    const fig = PNG.sync.read(readFileSync(join(shared, `${f}.png`)));
    assert.ok(fig.width > 64 && fig.height > 64, `${f}.png: a figure with its colorbar (${fig.width}x${fig.height})`);
  }
  // The single run's blended figure (the image under the heat map) is the batch's, but for rounding.
  const [one, many] = [singleFigure, join(shared, 'sub/c.png.png')].map((f) => PNG.sync.read(readFileSync(f)));
  assert.equal([one.width, one.height], [many.width, many.height], 'figure sizes');
  let off = 0;
  for (let i = 0; i < one.data.length; i++) off = Math.max(off, Math.abs(one.data[i] - many.data[i]));
  assert.ok(off <= 2, `single and batch blended figures differ by ${off}/255`);

  // Killed at the first output, then rerun: only whole files, and the same bytes as the run above.
  const killed = join(tmp, 'batch-killed');
  const child = spawn(process.execPath, [BIN, 'attribute', ...model, ...method, '--images', dir, '--out', killed], { stdio: 'ignore' });
  const t0 = Date.now();
  while (!existsSync(join(killed, 'a.png.safetensors')) && Date.now() - t0 < 120_000 && child.exitCode === null) await new Promise((res) => setTimeout(res, 20));
  child.kill('SIGKILL');
  await new Promise((res) => child.on('exit', res));
  const partial = readdirSync(killed, { recursive: true }).map(String).filter((f) => f.endsWith('.safetensors'));
  assert.ok(partial.length >= 1 && partial.length < 4, `killed mid-way: ${partial.length} of 4 outputs`);
  for (const f of partial) read(join(killed, f)); // parses: whole
  const again = glimpse('attribute', ...model, ...method, '--images', dir, '--out', killed);
  if (again.code !== 0 || !again.out.includes(`${4 - partial.length} attributed, ${partial.length} already done`)) throw new Error(`rerun: ${again.out} ${again.err}`);
  for (const f of ['a.png', 'b.png', 'sub/c.png', 'sub/d.png']) assert.equal(Array.from(read(join(killed, `${f}.safetensors`))), Array.from(read(join(out, `${f}.safetensors`))), f);
  assert.equal(readdirSync(killed, { recursive: true }).map(String).filter((f) => f.includes('.tmp-')), [], 'no temporary file left');

  // Three shards, three processes, one OUT: each input once, and the index complete.
  const sharded = join(tmp, 'batch-sharded');
  const counts = [0, 1, 2].map((i) => {
    const x = glimpse('attribute', ...model, ...method, '--images', dir, '--out', sharded, '--shard', `${i}/3`);
    if (x.code !== 0) throw new Error(`shard ${i}: ${x.err}`);
    return Number(/shard \d\/3: (\d+) of 5 inputs/.exec(x.out)![1]);
  });
  assert.is(counts.reduce((p, q) => p + q, 0), 5);
  const merged = spawnSync(process.execPath, [BIN, 'index', sharded], { encoding: 'utf8' });
  assert.match(merged.stdout, '4 attributed, 1 failed, 0 missing');
  assert.equal(readFileSync(join(sharded, 'index.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).file), index.map((l) => l.file));
  const bad = glimpse('attribute', ...model, ...method, '--images', dir, '--out', sharded, '--shard', '3/3');
  if (bad.code !== 2 || !bad.err.includes('index 3 of 3 shards is out of range')) throw new Error(`bad shard: ${bad.err}`);
  // The corrupt image repaired: the rerun attributes it and drops its failure record.
  copyFileSync(join(REF_DIR, 'images', 'chelsea.png'), join(dir, 'broken.png'));
  const fixed = glimpse('attribute', ...model, ...method, '--images', dir, '--out', out);
  if (!fixed.out.includes('1 attributed, 4 already done, 0 failed')) throw new Error(`repaired input: ${fixed.out} ${fixed.err}`);
  assert.not.ok(existsSync(join(out, 'broken.png.failed.json')), 'the failure record is gone');
  assert.not.ok(readFileSync(join(out, 'index.jsonl'), 'utf8').includes('"error"'));
  writeFileSync(join(dir, 'broken.png'), png.subarray(0, 100));
  const other = glimpse('attribute', ...model, '--method', 'saliency', '--images', dir, '--out', out);
  if (other.code !== 2 || !other.err.includes('holds a run of other options')) throw new Error(`other options: ${other.err}`);
});

test('batch runs over every row of a CSV and every line of a text file: Captum\'s IG on the wine rows and LIG on the sentences, resumable', () => {
  const M = join(REF_DIR, 'models');
  const wine = parseSafetensors(new Uint8Array(readFileSync(join(M, 'wine_ref.safetensors'))));
  const norm = join(tmp, 'wine_norm_batch.json');
  writeFileSync(norm, JSON.stringify({ mean: Array.from(wine.tensors.get('mean')!.data as Float32Array), std: Array.from(wine.tensors.get('std')!.data as Float32Array) }));
  const rows: number[] = JSON.parse(wine.metadata.rows), ig = wine.tensors.get('ig_gl50')!.data as Float32Array;
  const out = join(tmp, 'wine-batch');
  const r = glimpse('attribute', '--model', join(M, 'wine_mlp.onnx'), '--csv', join(M, 'wine.csv'), '--normalize', norm, '--out', out, '--method', 'integrated-gradients', '--target', 'label', '--metrics', 'infidelity');
  if (r.code !== 0 || !r.out.includes('178 attributed')) throw new Error(`exit ${r.code}: ${r.out} ${r.err}`);
  const read = (f: string, k = 'attributions') => parseSafetensors(new Uint8Array(readFileSync(f))).tensors.get(k)!.data as Float32Array;
  rows.forEach((row, i) => assertClose(read(join(out, `row-${row}.safetensors`)), ig.subarray(i * 13, (i + 1) * 13), 1e-3, `wine row ${row}`));
  const lines = readFileSync(join(out, 'index.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.is(lines.length, 178);
  assert.ok(lines.every((l) => l.target === l.predicted && Number.isFinite(l.metrics.infidelity)), 'the labels are the predictions (test accuracy 1.0), each with its infidelity');
  const again = glimpse('attribute', '--model', join(M, 'wine_mlp.onnx'), '--csv', join(M, 'wine.csv'), '--normalize', norm, '--out', out, '--method', 'integrated-gradients', '--target', 'label', '--metrics', 'infidelity');
  if (!again.out.includes('0 attributed, 178 already done')) throw new Error(`rerun: ${again.out}`);

  const sentiment = parseSafetensors(new Uint8Array(readFileSync(join(M, 'sentiment_ref.safetensors'))));
  const sentences: string[] = JSON.parse(sentiment.metadata.sentences);
  const textFile = join(tmp, 'sentences-batch.txt');
  // Two bad lines among them (too long; an unknown label): each is recorded, the others go on.
  writeFileSync(textFile, [sentences[0], 'word '.repeat(30), 'great\ta fine film', ...sentences.slice(1)].join('\n') + '\n');
  const lineOf = (i: number) => (i === 0 ? 1 : i + 3);
  const tout = join(tmp, 'text-batch');
  const t = glimpse('attribute', '--model', join(M, 'sentiment_cnn.onnx'), '--vocab', join(M, 'sentiment_vocab.json'), '--text-file', textFile, '--out', tout,
    '--method', 'layer-integrated-gradients', '--layer', 'embedding', '--target', '1', '--return-convergence-delta');
  if (t.code !== 0 || !t.out.includes('4 attributed, 0 already done, 2 failed')) throw new Error(`exit ${t.code}: ${t.out} ${t.err}`);
  assert.match(JSON.parse(readFileSync(join(tout, 'line-2.failed.json'), 'utf8')).error, 'line 2: the text has 30 tokens; the model reads at most 24');
  assert.match(JSON.parse(readFileSync(join(tout, 'line-3.failed.json'), 'utf8')).error, 'line 3: label "great" is neither a class index');
  const lig = sentiment.tensors.get('lig_embedding_gl50')!.data as Float32Array, delta = sentiment.tensors.get('lig_embedding_gl50_delta')!.data as Float32Array;
  sentences.forEach((_, i) => {
    assertClose(read(join(tout, `line-${lineOf(i)}.safetensors`)), lig.subarray(i * 768, (i + 1) * 768), 1e-3, `sentence ${i}`);
    assert.ok(Math.abs(read(join(tout, `line-${lineOf(i)}.safetensors`), 'delta')[0] - delta[i]) < 1e-4, `sentence ${i} delta`);
  });
  const bad = glimpse('attribute', '--model', join(M, 'sentiment_cnn.onnx'), '--vocab', join(M, 'sentiment_vocab.json'), '--text-file', textFile, '--out', tout, '--method', 'occlusion', '--sliding-window-shapes', '1', '--metrics', 'deletion');
  if (bad.code !== 2 || !bad.err.includes('--metrics deletion perturb the input continuously, which token ids are not')) throw new Error(`text metrics: ${bad.err}`);
});

test('an ONNX model from the command line: predict from the image, attribute with a layer named as in PyTorch, layers; bad names and inputs are one line', () => {
  const M = join(REF_DIR, 'models'), onnx = join(M, 'mobilenet_v2_seed0.onnx'), refs = join(M, 'mobilenet_v2_chelsea_64.safetensors');
  const logits = join(tmp, 'mnv2_logits.safetensors');
  const p = glimpse('predict', '--model', onnx, '--image', join(REF_DIR, 'images', 'chelsea.png'), '--size', '64', '--resize', '64', '--save', logits);
  if (p.code !== 0 || !/^ 765 {2}rocking chair/.test(p.out)) throw new Error(`exit ${p.code}: ${p.out} ${p.err}`);
  assertClose(parseSafetensors(new Uint8Array(readFileSync(logits))).tensors.get('logits')!.data as Float32Array, ref('models/mobilenet_v2_chelsea_64.safetensors', 'logits').data, 1e-4, 'logits from the image');
  const cam = join(tmp, 'mnv2_cam.safetensors');
  const r = glimpse('attribute', '--model', onnx, '--input', `${refs}:input`, '--method', 'layer-gradcam', '--layer', 'features.11.conv.1.0', '--target', '765', '--save', cam);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.err}`);
  assertClose(parseSafetensors(new Uint8Array(readFileSync(cam))).tensors.get('attributions')!.data as Float32Array, ref('models/mobilenet_v2_chelsea_64.safetensors', 'gradcam').data, 1e-3, 'Grad-CAM from the CLI');
  const l = glimpse('layers', '--model', onnx);
  if (l.code !== 0 || !/features\.11\.conv\.1\.0 +Conv +\[1, 384, 4, 4\]/.test(l.out)) throw new Error(`layers: exit ${l.code}: ${l.out.slice(0, 300)} ${l.err}`);
  const cases: [string[], number, string][] = [
    [['attribute', '--model', onnx, '--input', `${refs}:input`, '--method', 'layer-gradcam', '--layer', 'features.11.conv.1.9', '--save', cam], 1, 'the nearest: features.11.conv.1.0, features.11.conv.1.1, features.11.conv.1.2'],
    [['predict', '--model', onnx, '--input', `${join(REF_DIR, 'models', 'wine_ref.safetensors')}:input`], 2, 'takes [batch, 3, 64, 64]'],
    [['predict', '--model', join(tmp, 'missing.onnx'), '--image', join(REF_DIR, 'images', 'chelsea.png')], 2, 'does not exist'],
    [['predict', '--model', join(REF_DIR, 'images', 'chelsea.png') + '.onnx'], 2, 'does not exist'],
  ];
  for (const [args, code, msg] of cases) {
    const x = glimpse(...args);
    if (x.code !== code || !x.err.includes(msg)) throw new Error(`${args.slice(-4).join(' ')}: exit ${x.code}, stderr: ${x.err}`);
  }
});

test('a text from the command line: --text with --vocab gives Captum\'s LayerIntegratedGradients at the embedding (pad baseline by default) and --html its visualize_text; bad texts are one line', () => {
  const M = join(REF_DIR, 'models'), onnx = join(M, 'sentiment_cnn.onnx'), vocab = join(M, 'sentiment_vocab.json');
  const { tensors, metadata } = parseSafetensors(new Uint8Array(readFileSync(join(M, 'sentiment_ref.safetensors'))));
  const sentence = (JSON.parse(metadata.sentences) as string[])[2];
  const save = join(tmp, 'lig.safetensors'), html = join(tmp, 'lig.html');
  const r = glimpse('attribute', '--model', onnx, '--vocab', vocab, '--text', sentence, '--method', 'layer-integrated-gradients', '--layer', 'embedding', '--target', '1', '--save', save, '--html', html);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.err}`);
  const want = tensors.get('lig_embedding_gl50')!, per = want.data.length / want.shape[0];
  assertClose(parseSafetensors(new Uint8Array(readFileSync(save))).tensors.get('attributions')!.data as Float32Array, (want.data as Float32Array).subarray(2 * per, 3 * per), 1e-3, 'LIG from --text');
  // "loved" pushes towards positive (green), "mess" away from it (red), as their AFINN scores say.
  const page = readFileSync(html, 'utf8');
  const colourOf = (w: string) => new RegExp(`background-color: (hsl\\(\\d+)[^>]*><font color="black"> ${w} `).exec(page)?.[1];
  if (colourOf('loved') !== 'hsl(120' || colourOf('mess') !== 'hsl(0') throw new Error(`colours: loved ${colourOf('loved')}, mess ${colourOf('mess')}`);
  const bad = join(tmp, 'novocab.json');
  writeFileSync(bad, JSON.stringify({ vocab: ['<unk>', 'a'], unk: 0 }));
  const cases: [string[], string][] = [
    [['--vocab', vocab, '--text', new Array(30).fill('good').join(' ')], 'the text has 30 tokens; the model reads at most 24'],
    [['--vocab', vocab, '--text', ' ... '.replace(/\./g, ' ')], 'the text is empty'],
    [['--vocab', bad, '--text', 'a'], 'has no "pad" index'],
    [['--text', 'a good film'], '--text needs --vocab'],
  ];
  for (const [args, msg] of cases) {
    const x = glimpse('attribute', '--model', onnx, ...args, '--method', 'layer-integrated-gradients', '--layer', 'embedding', '--html', html);
    if (x.code !== 2 || !x.err.includes(msg) || x.err.split('\n').filter((l) => l.startsWith('glimpse: error')).length !== 1) throw new Error(`${msg}: exit ${x.code}, stderr: ${x.err}`);
  }
  const ig = glimpse('attribute', '--model', onnx, '--vocab', vocab, '--text', sentence, '--method', 'integrated-gradients', '--html', html);
  if (ig.code !== 2 || !ig.err.includes('token ids have no gradient: attribute to the embedding')) throw new Error(`IG on token ids: exit ${ig.code}, stderr: ${ig.err}`);
  const layerOnImage = glimpse('attribute', '--model', onnx, '--input', `${join(M, 'sentiment_ref.safetensors')}:tokens`, '--method', 'saliency', '--layer', 'embedding', '--save', save);
  if (layerOnImage.code !== 2 || !layerOnImage.err.includes('--layer goes with saliency over a --text')) throw new Error(`saliency --layer without --text: exit ${layerOnImage.code}, stderr: ${layerOnImage.err}`);
});

test('saliency over a text: the gradient at the embedding (found as the Gather that reads the token ids), absolute unless --no-abs', async () => {
  const M = join(REF_DIR, 'models'), onnx = join(M, 'sentiment_cnn.onnx'), vocab = join(M, 'sentiment_vocab.json');
  const sentence = 'i loved this story but the plot was a mess';
  const out = (name: string, ...extra: string[]) => {
    const file = join(tmp, `${name}.safetensors`);
    const r = glimpse('attribute', '--model', onnx, '--vocab', vocab, '--text', sentence, '--method', 'saliency', '--target', '1', '--save', file, ...extra);
    if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.err}`);
    return parseSafetensors(new Uint8Array(readFileSync(file))).tensors.get('attributions')!;
  };
  const abs = out('sal_abs'), signed = out('sal_signed', '--no-abs');
  assert.equal(abs.shape, [1, 24, 32]);
  assertClose(abs.data as Float32Array, Array.from(signed.data as Float32Array, Math.abs), 0, 'abs of the signed gradient');
  const ids = encodeText(sentence, parseVocabulary(readFileSync(vocab, 'utf8'))).ids;
  const ctx = await getGpu();
  const net = loadOnnxClassifier(ctx, onnx).net;
  const want = await tidy(async () => (await new A.LayerGradientXActivation(net, 'embedding', false).attribute(fromArray(ctx, Float32Array.from(ids), [1, 24]), { target: 1 })).data());
  assertClose(signed.data as Float32Array, want, 1e-6, 'the gradient at the embedding');
  if (!Array.from(want as Float32Array).some((v) => v < 0)) throw new Error('a gradient of one sign cannot tell abs from not');
});

test('a table row from the command line: --csv --row with --normalize gives Captum\'s IG and FeatureAblation on the wine MLP, and --png its bars; bad tables are one line', () => {
  const M = join(REF_DIR, 'models'), onnx = join(M, 'wine_mlp.onnx'), csv = join(M, 'wine.csv');
  const { tensors, metadata } = parseSafetensors(new Uint8Array(readFileSync(join(M, 'wine_ref.safetensors'))));
  const norm = join(tmp, 'wine_norm.json');
  writeFileSync(norm, JSON.stringify({ mean: Array.from(tensors.get('mean')!.data as Float32Array), std: Array.from(tensors.get('std')!.data as Float32Array) }));
  const rows = JSON.parse(metadata.rows) as number[], targets = JSON.parse(metadata.targets) as number[];
  const save = join(tmp, 'wine.safetensors'), png = join(tmp, 'wine.png');
  for (const [method, key, extra] of [['integrated-gradients', 'ig_gl50', ['--n-steps', '50']], ['feature-ablation', 'feature_ablation', []]] as const) {
    const r = glimpse('attribute', '--model', onnx, '--csv', csv, '--row', String(rows[3]), '--normalize', norm, '--method', method, ...extra, '--target', String(targets[3]), '--save', save, '--png', png);
    if (r.code !== 0) throw new Error(`${method}: exit ${r.code}: ${r.err}`);
    assertClose(parseSafetensors(new Uint8Array(readFileSync(save))).tensors.get('attributions')!.data as Float32Array, (tensors.get(key)!.data as Float32Array).subarray(3 * 13, 4 * 13), 1e-3, `${method} from --csv`);
  }
  const bars = PNG.sync.read(readFileSync(png));
  if (bars.width < 300 || bars.height < 13 * 20) throw new Error(`bar chart ${bars.width}x${bars.height}`);
  const broken = join(tmp, 'broken.csv');
  writeFileSync(broken, 'a,b\n1,x\n');
  const cases: [string[], string][] = [
    [['--csv', csv, '--row', '500'], '--row must be 0..177'],
    [['--csv', csv], '--csv needs --row'],
    [['--csv', broken, '--row', '0'], "has 2 feature columns (a, b); the model takes 13"],
    [['--csv', csv, '--row', '0', '--label-column', 'nope'], "has no column 'nope'"],
    [['--csv', csv, '--row', '0', '--normalize', csv], 'is not JSON'],
  ];
  for (const [args, msg] of cases) {
    const x = glimpse('attribute', '--model', onnx, ...args, '--method', 'saliency', '--save', save);
    if (x.code !== 2 || !x.err.includes(msg) || x.err.split('\n').filter((l) => l.startsWith('glimpse: error')).length !== 1) throw new Error(`${msg}: exit ${x.code}, stderr: ${x.err}`);
  }
  writeFileSync(broken, 'a,b,c,d,e,f,g,h,i,j,k,l,m\n' + '1,2,3,4,5,6,,8,9,10,11,12,13\n');
  const x = glimpse('attribute', '--model', onnx, '--csv', broken, '--row', '0', '--method', 'saliency', '--save', save);
  if (x.code !== 2 || !x.err.includes("row 1, column 'g': '' is not a number (missing value)")) throw new Error(`missing value: exit ${x.code}, stderr: ${x.err}`);
});

test.run();
