// The adapter's multiply-add ceiling (kernels/peak.wgsl): invocations that only multiply-add in
// registers, as a register-tiled kernel's inner loop does at best, so the kernels' GFLOP/s can be
// read against what the adapter can do at all (on lavapipe: what its JIT makes of a loop of fmas).
import type { GpuContext } from '../src/gpu/device.ts';
import { Tensor } from '../src/autograd/index.ts';
import { timeMs } from './util.ts';

const ITERS = 1000, FLOPS_PER_ITER = 256, WG = 64;

/** Median ms and GFLOP/s of the ceiling kernel over `groups` workgroups (enough to fill every core). */
export async function multiplyAddCeiling(ctx: GpuContext, groups = ctx.cpuAdapter ? 1024 : 65535, reps = 3): Promise<{ ms: number; gflops: number }> {
  const out = new Tensor(ctx, [groups * WG * 4]);
  try {
    const ms = await timeMs(ctx, () => ctx.dispatch({ name: 'multiply_add_ceiling', file: 'peak', inputs: 0, outputs: 1 },
      { inputs: [], outputs: [out.buffer], ints: [ITERS], floats: [0.999, 0.001], workgroups: [groups, 1, 1] }), reps);
    return { ms, gflops: (groups * WG * ITERS * FLOPS_PER_ITER) / ms / 1e6 };
  } finally {
    out.release();
  }
}
