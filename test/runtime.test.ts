import { suite } from 'uvu';
import { preprocess } from '../src/gpu/kernel.ts';
import { bucketBytes } from '../src/gpu/pool.ts';
import * as ops from '../src/autograd/index.ts';
import { grad, noGrad, tidy } from '../src/autograd/index.ts';
import { getGpu, gpuTensor, randoms } from './helpers.ts';

const test = suite('runtime');

test('preprocessor: #if on constants, values substituted, unknown names refused', () => {
  const src = 'const A = ${A};\n#if ${FLAG}\nlet x = 1;\n#else\nlet x = 2;\n#endif\n';
  const on = preprocess(src, 't', { A: 7, FLAG: true }), off = preprocess(src, 't', { A: 3, FLAG: false });
  if (!on.includes('const A = 7;') || !on.includes('let x = 1;') || on.includes('let x = 2;')) throw new Error(on);
  if (!off.includes('let x = 2;') || off.includes('let x = 1;')) throw new Error(off);
  let msg = '';
  try { preprocess(src, 't', { A: 1 }); } catch (e) { msg = (e as Error).message; }
  if (!msg.includes('FLAG')) throw new Error(`expected an error naming FLAG, got '${msg}'`);
});

test('preprocessor: #include "name" inlines another kernel file, with the includer\'s constants; cycles refused', () => {
  const files: Record<string, string> = { main: 'const A = ${A};\n#include "helper"\nfn main() {}\n', helper: '#if ${FLAG}\nfn helper() -> i32 { return A; }\n#endif\n', loop: '#include "loop"\n' };
  const source = (name: string) => files[name];
  const on = preprocess(files.main, 'main', { A: 2, FLAG: true }, source), off = preprocess(files.main, 'main', { A: 2, FLAG: false }, source);
  if (!on.includes('fn helper() -> i32 { return A; }') || on.includes('#include') || off.includes('fn helper')) throw new Error(on + '\n---\n' + off);
  let msg = '';
  try { preprocess(files.loop, 'loop', {}, source); } catch (e) { msg = (e as Error).message; }
  if (!msg.includes('includes itself')) throw new Error(`expected a cycle error, got '${msg}'`);
});

test("pool buckets: 256-byte granules, at most 25% waste above 1 KiB, reuse of released buffers", async () => {
  for (const n of [1, 255, 257, 1000, 4097, 1 << 20, (1 << 20) + 1, 123456789]) {
    const b = bucketBytes(n);
    if (b < n || b % 256 !== 0 || (n > 1024 && b > n * 1.25)) throw new Error(`bucket ${b} for ${n}`);
  }
  const ctx = await getGpu();
  const a = ctx.pool.acquire(5000);
  ctx.pool.release(a);
  if (ctx.pool.acquire(5100) !== a) throw new Error('a released buffer of the same bucket was not reused');
  ctx.pool.release(a);
});

test('dispatches batched in one submit each see their own uniforms', async () => {
  const ctx = await getGpu();
  await tidy(async () => {
    const ts = [1, 2, 3, 4, 5].map((v) => ops.fill(ctx, [10], v));
    const got = await Promise.all(ts.map((t) => t.data()));
    got.forEach((d, i) => { if (d.some((v) => v !== i + 1)) throw new Error(`dispatch ${i} saw uniforms of another: ${d}`); });
  });
});

test('grad with respect to an intermediate tensor, and no graph under noGrad', async () => {
  await tidy(async () => {
    const x = await gpuTensor([1, -2, 3], [3], true);
    const h = ops.scale(x, 2);
    const y = ops.sum(ops.square(ops.relu(h)));
    const [gh, gx] = grad(y, [h, x]);
    if ((await gh.data()).join() !== '4,0,12') throw new Error(`dy/dh = ${await gh.data()}`);
    if ((await gx.data()).join() !== '8,0,24') throw new Error(`dy/dx = ${await gx.data()}`);
    const z = noGrad(() => ops.relu(x));
    if (z.requiresGrad || z.node) throw new Error('noGrad recorded a graph');
  });
});

test('a 200-iteration loop of forward and backward passes does not grow GPU memory', async () => {
  const ctx = await getGpu();
  const w1 = await gpuTensor(randoms(8 * 3 * 3 * 3, 1), [8, 3, 3, 3]);
  const w2 = await gpuTensor(randoms(10 * 8, 2), [10, 8]);
  const x = await gpuTensor(randoms(2 * 3 * 12 * 12, 3), [2, 3, 12, 12]);
  const step = () => tidy(() => {
    const input = ops.affine(x, 1);
    input.requiresGrad = true;
    const h = ops.relu(ops.conv2d(input, w1, null, { padding: 1, stride: 2 }));
    const p = ops.maxPool2d(h, { kernelSize: 3, stride: 2, padding: 1 });
    const logits = ops.linear(ops.flatten(ops.adaptiveAvgPool2d1(p)), w2);
    const [g] = grad(ops.sum(ops.selectTargets(ops.softmax(logits), [1, 2])), [input]);
    return g.size;
  });
  step(); // first use caches the permuted weights
  await ctx.sync();
  const before = ctx.pool.liveBytes;
  for (let i = 0; i < 200; i++) step();
  await ctx.sync();
  const after = ctx.pool.liveBytes;
  if (after !== before) throw new Error(`live GPU bytes grew from ${before} to ${after}`);
  w1.release(); w2.release(); x.release();
});

test('a use of a released tensor is a clear error', async () => {
  const t = await gpuTensor([1, 2], [2]);
  t.release();
  let msg = '';
  try { ops.relu(t); } catch (e) { msg = (e as Error).message; }
  if (!msg.includes('released')) throw new Error(`got '${msg}'`);
});

test.run();
