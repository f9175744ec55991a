import type { Kernel } from '../../gpu/kernel.ts';
import type { GpuContext } from '../../gpu/device.ts';
import { Tensor } from '../tensor.ts';

/** Workgroups for `n` threads in groups of `wg`, spread over y beyond the 65535-per-dimension limit. */
export function grid(ctx: GpuContext, n: number, wg = 64): [number, number, number] {
  const groups = Math.ceil(n / wg);
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y, 1];
}

/**
 * How many workgroups to give the planes of kernels that loop over planes with the stride of the
 * grid (kernels/boxed.wgsl, channel.wgsl, the max-pool scatter): on CPU adapters at most 32, since
 * lavapipe pays a fixed cost per workgroup (a copy of 15 x 15 windows over 4608 planes ran 3-4x
 * faster as 32 workgroups looping over planes than as one per plane); elsewhere one per plane, up to
 * the device's limit.
 */
export function planeWorkgroups(ctx: GpuContext, planes: number): number {
  return Math.min(planes, ctx.cpuAdapter ? 32 : ctx.limits.maxComputeWorkgroupsPerDimension);
}

/**
 * Workgroups for kernels that cover a width x height plane in 8 x 8 lane tiles (x, y,
 * `@workgroup_size(8, 8)`) and loop over planes (z): a lane's row and column stay fixed, so it
 * divides no flat index, and small maps (a 15 x 15 window) keep most lanes busy.
 */
export function planeGrid(ctx: GpuContext, width: number, height: number, planes: number): [number, number, number] {
  return [Math.ceil(width / 8), Math.ceil(height / 8), planeWorkgroups(ctx, planes)];
}

export interface Launch {
  ints?: number[];
  floats?: number[];
  workgroups: [number, number, number];
}

/** Runs a kernel whose single output is a new tensor of `shape`. */
export function launch(k: Kernel, inputs: Tensor[], shape: readonly number[], l: Launch): Tensor {
  const ctx = inputs[0]?.ctx;
  if (!ctx) throw new Error(`${k.name}: no input tensor`);
  const out = new Tensor(ctx, shape);
  ctx.dispatch(k, { inputs: inputs.map((t) => t.buffer), outputs: [out.buffer], ints: l.ints, floats: l.floats, workgroups: l.workgroups });
  return out;
}

export function sameShape(op: string, a: Tensor, b: Tensor): void {
  if (a.size !== b.size || a.rank !== b.rank || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${op}: shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] differ`);
  }
}
