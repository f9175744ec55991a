import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { conv2dForwardRaw, conv2dGradInput, conv2dGradWeight, convGeometry, convTuning, tileCandidates, tidy, tuneConv, tuningKey } from '../src/autograd/index.ts';
import { loadTuning, saveTuning } from '../src/io/tuning-cache.ts';
import { convGeometries } from '../src/nn/tune.ts';
import { assertClose, getGpu, gpuTensor, randoms } from './helpers.ts';
import { REF_DIR, resnet18Seed0 } from './refdata.ts';
import { loadOnnx } from '../src/nn/graph.ts';

const test = suite('autotune');
const dir = mkdtempSync(join(tmpdir(), 'glimpse-tune-'));

// Few channels, so that no pass goes to Winograd and all three are the direct kernels' to tune.
const g = convGeometry([2, 8, 10, 9], [12, 8, 3, 3], { stride: 1, padding: 1 });

test('candidates: the default tile first, no repeats, weight gradients with a workgroup target', async () => {
  const ctx = await getGpu();
  for (const pass of ['forward', 'grad_input', 'grad_weight'] as const) {
    const c = tileCandidates(ctx, pass, g);
    assert.ok(c.length >= 2, pass);
    const names = c.map((t) => JSON.stringify(t));
    assert.is(new Set(names).size, names.length, `${pass}: repeats`);
    for (const t of c) assert.ok(t.TM % 4 === 0 && t.WG % 8 === 0, `${pass}: ${names}`);
    if (pass === 'grad_weight') assert.ok(c.slice(1).every((t) => t.groups! > 0), names.join());
  }
});

test('tuning records one choice per pass; forward and input gradient give the same bits on every tile', async () => {
  const ctx = await getGpu();
  const table = convTuning(ctx);
  const xv = randoms(2 * 8 * 10 * 9, 5), wv = randoms(12 * 8 * 9, 6), gv = randoms(2 * 12 * 10 * 9, 7);
  const outputs = () => tidy(async () => {
    const x = await gpuTensor(xv, [2, 8, 10, 9]), w = await gpuTensor(wv, [12, 8, 3, 3]), gy = await gpuTensor(gv, [2, 12, 10, 9]);
    return [await conv2dForwardRaw(x, w, null, g).data(), await conv2dGradInput(gy, w, g).data(), await conv2dGradWeight(gy, x, g).data()];
  });
  const keys = (['forward', 'grad_input', 'grad_weight'] as const).map((p) => tuningKey(p, g));
  for (const k of keys) table.delete(k);
  const before = await outputs();
  try {
    const choices = await tuneConv(ctx, [g], { passes: ['forward', 'grad_input', 'grad_weight'] });
    assert.equal(choices.map((c) => c.key), keys);
    for (const c of choices) assert.ok(c.ms > 0 && c.ms <= c.defaultMs && table.get(c.key) === c.tile, JSON.stringify(c));
    assert.is((await tuneConv(ctx, [g], { passes: ['forward'] })).length, 0, 'a tuned key is not tuned again');
    // Every candidate, not only the winner: each output sums its terms in one order whatever the tile.
    for (const pass of ['forward', 'grad_input'] as const) {
      for (const tile of tileCandidates(ctx, pass, g)) {
        table.set(tuningKey(pass, g), tile);
        const i = pass === 'forward' ? 0 : 1;
        const got = (await outputs())[i];
        assert.ok(got.every((v, j) => v === before[i][j]), `${pass} with ${JSON.stringify(tile)} changed bits`);
      }
    }
    for (const tile of tileCandidates(ctx, 'grad_weight', g)) {
      table.set(keys[2], tile);
      assertClose((await outputs())[2], before[2], 1e-5, `grad weight with ${JSON.stringify(tile)}`);
    }
  } finally {
    for (const k of keys) table.delete(k);
  }
});

test('the model tuner finds each distinct convolution of ResNet-18 once', async () => {
  const ctx = await getGpu();
  const { net } = await resnet18Seed0(ctx);
  const found = convGeometries(ctx, net, [1, 3, 64, 64]);
  // stem; 3x3 at 64, 128 (and its stride-2 entry), 256, 512 channels; three 1x1 stride-2 downsamples.
  assert.is(found.length, 11);
  assert.equal(found[0], convGeometry([1, 3, 64, 64], [64, 3, 7, 7], { stride: 2, padding: 3 }));
  assert.is(found.filter((x) => x.KH === 1).length, 3);
});

test('the model tuner finds the dense convolutions of a graph model (MobileNetV2 from ONNX), not its depthwise ones', async () => {
  const ctx = await getGpu();
  const m = loadOnnx(ctx, new Uint8Array(readFileSync(join(REF_DIR, 'models', 'mobilenet_v2_seed0.onnx'))), { what: 'mobilenet_v2_seed0.onnx' });
  const found = convGeometries(ctx, m, [1, 3, 64, 64]);
  assert.equal(found[0], convGeometry([1, 3, 64, 64], [32, 3, 3, 3], { stride: 2, padding: 1 }));
  assert.ok(found.slice(1).every((x) => x.KH === 1 && x.KW === 1), 'the stem, then 1x1 convolutions only');
  // features.1's projection 32 -> 16 at 32x32, the final 320 -> 1280 at 2x2.
  assert.ok(found.some((x) => x.C === 32 && x.K === 16 && x.H === 32), JSON.stringify(found.slice(0, 3)));
  assert.ok(found.some((x) => x.C === 320 && x.K === 1280 && x.H === 2));
  m.release();
});

test('the tuning cache keeps choices per adapter; a corrupt file is reported and ignored', async () => {
  const ctx = await getGpu();
  const table = convTuning(ctx);
  const file = join(dir, 'tuning.json');
  const key = tuningKey('forward', g);
  writeFileSync(file, JSON.stringify({ 'another adapter': { [key]: { TM: 8, TN: 4, WG: 64 } } }));
  table.set(key, { TM: 16, TN: 8, WG: 8 });
  try {
    saveTuning(ctx, file);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(saved['another adapter'][key], { TM: 8, TN: 4, WG: 64 });
    assert.equal(saved[ctx.adapterDescription][key], { TM: 16, TN: 8, WG: 8 });
    table.delete(key);
    assert.is(loadTuning(ctx, file), Object.keys(saved[ctx.adapterDescription]).length);
    assert.equal(table.get(key), { TM: 16, TN: 8, WG: 8 });

    table.delete(key);
    saved[ctx.adapterDescription] = { [key]: { TM: 5, TN: 4, WG: 8 }, other: 'not a tile' };
    writeFileSync(file, JSON.stringify(saved));
    assert.is(loadTuning(ctx, file), 0, 'entries that are not tiles are skipped');
    assert.is(table.get(key), undefined);

    writeFileSync(file, '{"truncated');
    const warnings: string[] = [];
    assert.is(loadTuning(ctx, file, (m) => warnings.push(m)), 0);
    assert.match(warnings.join(), /ignoring the tuning cache .*tuning\.json/);
  } finally {
    table.delete(key);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
