import type { GpuContext } from './device.ts';

/**
 * Milliseconds per call of `run` (which records GPU work): after one warm-up call (pipelines compile),
 * the median of `samples` timings, each of as many calls in one submit as last about `minMs` (at most
 * 50), so that a sub-millisecond kernel on a real GPU is not timed as the round trip that waits for it.
 */
export async function msPerCall(ctx: GpuContext, run: () => void | Promise<unknown>, samples = 3, minMs = 10): Promise<number> {
  await run();
  await ctx.sync();
  let t0 = performance.now();
  await run();
  await ctx.sync();
  const calls = Math.min(50, Math.max(1, Math.ceil(minMs / (performance.now() - t0))));
  const times: number[] = [];
  for (let s = 0; s < samples; s++) {
    t0 = performance.now();
    for (let i = 0; i < calls; i++) await run();
    await ctx.sync();
    times.push((performance.now() - t0) / calls);
  }
  return times.sort((a, b) => a - b)[Math.floor(samples / 2)];
}
