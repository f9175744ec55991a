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
 * Workgroups of 64 lanes along a row (x), one row each (y), and planes over z, capped at the device's
 * limit: kernels laid out this way loop over planes with the stride of z, so a row's values are
 * uniform in a workgroup and no lane divides its flat index.
 */
export function rowGrid(ctx: GpuContext, rowLength: number, rows: number, planes: number): [number, number, number] {
  return [Math.ceil(rowLength / 64), rows, Math.min(planes, ctx.limits.maxComputeWorkgroupsPerDimension)];
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
