import type { GpuContext } from '../../gpu/device.ts';
import { record } from '../grad.ts';
import { Tensor } from '../tensor.ts';
import { grid, launch, planeWorkgroups } from './launch.ts';

/** Softmax over the last dimension. */
export function softmax(x: Tensor): Tensor {
  const L = x.shape[x.rank - 1], rows = x.size / L;
  const y = launch({ name: 'softmax', file: 'softmax', inputs: 1, outputs: 1, defines: { BACKWARD: false } }, [x], x.shape,
    { ints: [rows, L], workgroups: grid(x.ctx, rows) });
  return record(y, 'softmax', [x], (g) => [
    launch({ name: 'softmax_backward', file: 'softmax', inputs: 2, outputs: 1, defines: { BACKWARD: true } }, [g, y], x.shape,
      { ints: [rows, L], workgroups: grid(x.ctx, rows) }),
  ]);
}

/** Target indices as a GPU tensor (floats, exact below 2^24). */
export function targetTensor(ctx: GpuContext, targets: number[]): Tensor {
  const t = new Tensor(ctx, [targets.length]);
  ctx.write(t.buffer, Float32Array.from(targets));
  return t;
}

/** y[r] = x[r, targets[r]] for x of shape [rows, L]: the scores that attributions explain. */
export function selectTargets(x: Tensor, targets: number[]): Tensor {
  if (x.rank !== 2) throw new Error(`selectTargets: scores must be [N, classes], got [${x.shape.join(', ')}]`);
  const [rows, L] = x.shape;
  if (targets.length !== rows) throw new Error(`selectTargets: ${targets.length} targets for ${rows} rows`);
  for (const t of targets) {
    if (!Number.isInteger(t) || t < 0 || t >= L) throw new Error(`target ${t} is out of range: the model has ${L} outputs (0..${L - 1})`);
  }
  const tt = targetTensor(x.ctx, targets);
  const y = launch({ name: 'select', file: 'select', inputs: 2, outputs: 1, defines: { BACKWARD: false } }, [x, tt], [rows],
    { ints: [rows, L], workgroups: grid(x.ctx, rows) });
  const out = record(y, 'select', [x], (g) => [
    launch({ name: 'select_backward', file: 'select', inputs: 2, outputs: 1, defines: { BACKWARD: true } }, [g, tt], x.shape,
      { ints: [rows, L], workgroups: grid(x.ctx, x.size) }),
  ]);
  if (!out.node) tt.release();
  return out;
}

/**
 * BatchNorm2d in inference mode as a per-channel affine map: y = x * scale[c] + shift[c], with
 * `relu` followed by ReLU in the same pass, and with `residual` the ResNet block's tail
 * relu(bn(x) + residual) (the same arithmetic as the ops apart).
 */
export function channelAffine(x: Tensor, scale: Tensor, shift: Tensor, relu = false, residual: Tensor | null = null): Tensor {
  if (x.rank !== 4 || scale.size !== x.shape[1] || shift.size !== x.shape[1]) {
    throw new Error(`channelAffine: input [${x.shape.join(', ')}] does not match ${scale.size} channel parameters`);
  }
  if (residual && (residual.rank !== 4 || residual.shape.some((d, i) => d !== x.shape[i]))) {
    throw new Error(`channelAffine: residual [${residual.shape.join(', ')}] does not match the input [${x.shape.join(', ')}]`);
  }
  const [N, C, H, W] = x.shape;
  const vec4 = (H * W) % 4 === 0, HW = vec4 ? (H * W) / 4 : H * W;
  const ints = [N * C, C, HW], workgroups: [number, number, number] = [Math.ceil(HW / 64), planeWorkgroups(x.ctx, N * C), 1];
  const name = `batch_norm${residual ? '_add' : ''}${relu ? '_relu' : ''}`;
  const defines = (forward: boolean) => ({ FORWARD: forward, RELU: relu, RESIDUAL: !!residual, VEC4: vec4 });
  const inputs = residual ? [x, scale, shift, residual] : [x, scale, shift];
  const y = launch({ name, file: 'channel', inputs: inputs.length, outputs: 1, defines: defines(true) }, inputs, x.shape, { ints, workgroups });
  // The parameters of an inference-mode BatchNorm are frozen: only the input (and the residual) take a gradient.
  return record(y, name, residual ? [x, residual] : [x], (g, needs) => {
    const gx = new Tensor(x.ctx, x.shape), gr = residual ? new Tensor(x.ctx, x.shape) : null;
    x.ctx.dispatch({ name: `${name}_backward`, file: 'channel', inputs: relu ? 3 : 2, outputs: gr ? 2 : 1, defines: defines(false) },
      { inputs: relu ? [g.buffer, scale.buffer, y.buffer] : [g.buffer, scale.buffer], outputs: gr ? [gx.buffer, gr.buffer] : [gx.buffer], ints, workgroups });
    if (gr && !needs[1]) { gr.release(); return [gx, null]; }
    return gr ? [gx, gr] : [gx];
  });
}
