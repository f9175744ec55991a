import type { GpuContext } from '../../gpu/device.ts';
import { record } from '../grad.ts';
import { Tensor } from '../tensor.ts';
import { grid, launch } from './launch.ts';

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
 * `relu` followed by ReLU in the same pass (the same arithmetic as the two ops apart).
 */
export function channelAffine(x: Tensor, scale: Tensor, shift: Tensor | null, relu = false): Tensor {
  if (x.rank !== 4 || scale.size !== x.shape[1] || (shift && shift.size !== x.shape[1])) {
    throw new Error(`channelAffine: input [${x.shape.join(', ')}] does not match ${scale.size} channel parameters`);
  }
  const [, C, H, W] = x.shape;
  const ints = [x.size, C, H * W];
  const inputs = shift ? [x, scale, shift] : [x, scale];
  const y = launch({ name: relu ? 'batch_norm_relu' : 'batch_norm', file: 'channel', inputs: inputs.length, outputs: 1, defines: { SHIFT: !!shift, RELU: relu, RELU_BACKWARD: false } },
    inputs, x.shape, { ints, workgroups: grid(x.ctx, x.size) });
  // The parameters of an inference-mode BatchNorm are frozen: only the input takes a gradient.
  return record(y, relu ? 'batch_norm_relu' : 'batch_norm', [x], (g) => [
    relu
      ? launch({ name: 'batch_norm_relu_backward', file: 'channel', inputs: 3, outputs: 1, defines: { SHIFT: false, RELU: false, RELU_BACKWARD: true } },
        [g, scale, y], x.shape, { ints, workgroups: grid(x.ctx, x.size) })
      : launch({ name: 'batch_norm_backward', file: 'channel', inputs: 2, outputs: 1, defines: { SHIFT: false, RELU: false, RELU_BACKWARD: false } },
        [g, scale], x.shape, { ints, workgroups: grid(x.ctx, x.size) }),
  ]);
}
