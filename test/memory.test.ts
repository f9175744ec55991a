// Memory: what tidy returns is the caller's and everything else is freed, at any depth; the pool
// gives idle memory back above its limit and on trim.
import { suite } from 'uvu';
import { fromArray, tidy, keep, unkeep, Tensor } from '../src/autograd/index.ts';
import * as A from '../src/attr/index.ts';
import type { GpuContext } from '../src/gpu/device.ts';
import { getGpu } from './helpers.ts';
import { resnet18Seed0 } from './refdata.ts';

const test = suite('memory');

test('200 attributions of every kind inside nested tidy leave the pool\'s live bytes where they were', async () => {
  const ctx = await getGpu();
  const { net } = await resnet18Seed0(ctx);
  const x = keep(fromArray(ctx, Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.sin(i)), [1, 3, 32, 32]));
  const methods: (() => Promise<Tensor | [Tensor, Tensor]>)[] = [
    () => new A.Saliency(net).attribute(x, { target: 3 }),
    () => new A.InputXGradient(net).attribute(x, { target: 3 }),
    () => new A.GuidedBackprop(net).attribute(x, { target: 3 }),
    () => new A.IntegratedGradients(net).attribute(x, { target: 3, nSteps: 2, returnConvergenceDelta: true }),
    () => new A.IntegratedGradients(net, false).attribute(x, { target: 3, nSteps: 2 }),
    () => new A.Occlusion(net).attribute(x, { target: 3, slidingWindowShapes: [3, 16, 16], strides: [3, 16, 16] }),
    () => new A.LayerGradCam(net, 'layer3.1.conv2').attribute(x, { target: 3 }),
    async () => A.LayerAttribution.interpolate(await new A.LayerGradCam(net, 'layer4').attribute(x, { target: 3 }), [32, 32]),
    () => new A.GuidedGradCam(net, 'layer4').attribute(x, { target: 3 }),
    () => new A.LayerConductance(net, 'layer2').attribute(x, { target: 3, nSteps: 2, returnConvergenceDelta: true }),
    () => new A.LayerIntegratedGradients(net, 'layer2', false).attribute(x, { target: 3, nSteps: 2 }),
    () => new A.NoiseTunnel(new A.Saliency(net)).attribute(x, { target: 3, nSamples: 2 }),
    () => new A.LayerActivation(net, 'layer1').attribute(x),
  ];
  // A first round allocates what stays (weights' derived forms, batch sizing's measurements).
  for (const m of methods) await tidy(async () => { await m(); });
  const live = ctx.pool.liveBytes;
  for (let i = 0; i < 200; i++) {
    await tidy(async () => {
      await tidy(async () => {
        const r = await methods[i % methods.length]();
        for (const t of Array.isArray(r) ? r : [r]) if (t.released) throw new Error(`method ${i % methods.length}: its result was freed before the caller's tidy ended`);
      });
    });
  }
  if (ctx.pool.liveBytes !== live) throw new Error(`live bytes ${live} -> ${ctx.pool.liveBytes} after 200 attributions in nested tidy`);
  // A result returned through two tidies is the caller's: alive after them, freed by the caller.
  const r = await tidy(() => tidy(() => new A.Saliency(net).attribute(x, { target: 3 })));
  if (r.released || ctx.pool.liveBytes === live) throw new Error('a returned result must survive the tidies it was returned from');
  r.release();
  // A kept tensor handed back with unkeep belongs to the enclosing tidy.
  await tidy(async () => { unkeep(keep(fromArray(ctx, [1, 2], [2]))); });
  x.release();
  if (ctx.pool.liveBytes !== live - 3 * 32 * 32 * 4) throw new Error(`live bytes ${ctx.pool.liveBytes}, want ${live - 3 * 32 * 32 * 4}`);
});

/** Runs `body` on a trimmed pool whose idle limit is `bytes`, then restores the limit and trims. */
async function withIdleLimit(bytes: number, body: (ctx: GpuContext) => void): Promise<void> {
  const ctx = await getGpu();
  const pool = ctx.pool, before = pool.maxIdleBytes;
  pool.trim();
  try {
    pool.maxIdleBytes = bytes;
    body(ctx);
  } finally {
    pool.maxIdleBytes = before;
    pool.trim();
  }
}

test('the pool keeps at most maxIdleBytes idle, and trim gives the rest back', async () => {
  await withIdleLimit(1 << 20, (ctx) => {
    const pool = ctx.pool;
    const ts = Array.from({ length: 8 }, () => fromArray(ctx, new Float32Array(65536), [65536])); // 256 KiB each
    ts.forEach((t) => t.release());
    if (pool.idleBytes !== 1 << 20) throw new Error(`idle bytes ${pool.idleBytes}, want ${1 << 20}`);
    pool.trim(256 * 1024);
    if (pool.idleBytes !== 256 * 1024) throw new Error(`idle bytes after trim ${pool.idleBytes}`);
    const again = fromArray(ctx, new Float32Array(65536), [65536]); // reuses the idle buffer
    if (pool.idleBytes !== 0) throw new Error(`idle bytes ${pool.idleBytes} after reuse`);
    again.release();
  });
});

test('past its limit the pool lets the least recently released buffers go, so that a job after another keeps its own', async () => {
  await withIdleLimit(1 << 20, (ctx) => {
    const pool = ctx.pool;
    Array.from({ length: 4 }, () => new Tensor(ctx, [65536])).forEach((t) => t.release()); // the first job: 4 x 256 KiB
    Array.from({ length: 2 }, () => new Tensor(ctx, [131072])).forEach((t) => t.release()); // the next: 2 x 512 KiB
    if (pool.idleBytes !== 1 << 20) throw new Error(`idle bytes ${pool.idleBytes}, want ${1 << 20}`);
    const again = Array.from({ length: 2 }, () => new Tensor(ctx, [131072]));
    if (pool.idleBytes !== 0) throw new Error(`the next job's buffers were not kept: ${pool.idleBytes} bytes of the first job's idle`);
    again.forEach((t) => t.release());
  });
});

test('by default the pool keeps what a batch released, past 256 MiB, so that the next batch like it creates no buffer; trim gives it back', async () => {
  const ctx = await getGpu();
  const pool = ctx.pool;
  pool.trim();
  const MiB = 1 << 20;
  const batch = () => Array.from({ length: 80 }, () => new Tensor(ctx, [MiB])); // 80 x 4 MiB: 320 MiB live
  batch().forEach((t) => t.release());
  if (pool.idleBytes !== 320 * MiB) throw new Error(`idle bytes ${pool.idleBytes / MiB} MiB after the first batch, want 320`);
  const second = batch();
  if (pool.idleBytes !== 0) throw new Error(`the second batch left ${pool.idleBytes / MiB} MiB idle: it created buffers anew`);
  second.forEach((t) => t.release());
  pool.trim();
  if (pool.idleBytes !== 0) throw new Error(`idle bytes ${pool.idleBytes} after trim`);
});

test.run();
