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
 * What follows an affine map in its pass (kernels/activation.wgsl): 'relu', or Clip to finite
 * [min, max] (ReLU6), each with PyTorch's gradient rule; null for neither.
 */
export type Activation = null | 'relu' | { clip: [number, number] };

const f32Bits = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0];

/** The compile-time constants of kernels/activation.wgsl, and the suffix of the kernel's name. */
export function activationDefines(a: Activation): { ACT: number; CLIP_LO: number; CLIP_HI: number } {
  if (a === null || a === 'relu') return { ACT: a ? 1 : 0, CLIP_LO: 0, CLIP_HI: 0 };
  const [lo, hi] = a.clip;
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(lo <= hi)) throw new Error(`a fused Clip needs finite bounds min <= max, got [${lo}, ${hi}]`);
  return { ACT: 2, CLIP_LO: f32Bits(lo), CLIP_HI: f32Bits(hi) };
}

/**
 * A BatchNorm and activation's backward that an input-gradient kernel applies as it stores
 * (kernels/input-affine.wgsl): x is the layer's input, which they made; GradNode.outputAffine's map.
 */
export interface InputAffine { x: Tensor; scale: Tensor; activation: Activation }

/** kernels/input-affine.wgsl's defines, x bound at `at` and its scale after it. */
export function inputAffineDefines(a: InputAffine | null, at: number): Record<string, number | boolean> {
  const d = activationDefines(a?.activation ?? null);
  return { INPUT_AFFINE: !!a, INPUT_AT: at, IN_ACT: d.ACT, IN_CLIP_LO: d.CLIP_LO, IN_CLIP_HI: d.CLIP_HI };
}

/** `x` with its producer's outputAffine, where the reverse pass asked a rule to apply it to input i. */
export function inputAffineOf(x: Tensor, apply: boolean): InputAffine | null {
  const a = apply ? x.node?.outputAffine : undefined;
  return a ? { x, ...a } : null;
}

export const activationSuffix = (a: Activation): string => (a === null ? '' : a === 'relu' ? '_relu' : '_clip');

/**
 * BatchNorm2d in inference mode as a per-channel affine map: y = x * scale[c] + shift[c], followed in
 * the same pass by `activation`, and with `residual` the ResNet block's tail relu(bn(x) + residual)
 * (the same arithmetic as the ops apart).
 */
export function channelAffine(x: Tensor, scale: Tensor, shift: Tensor, activation: Activation = null, residual: Tensor | null = null): Tensor {
  if (x.rank !== 4 || scale.size !== x.shape[1] || shift.size !== x.shape[1]) {
    throw new Error(`channelAffine: input [${x.shape.join(', ')}] does not match ${scale.size} channel parameters`);
  }
  if (residual && (residual.rank !== 4 || residual.shape.some((d, i) => d !== x.shape[i]))) {
    throw new Error(`channelAffine: residual [${residual.shape.join(', ')}] does not match the input [${x.shape.join(', ')}]`);
  }
  const y = channelAffineRaw(x, scale, shift, activation, residual);
  // The parameters of an inference-mode BatchNorm are frozen: only the input (and the residual) take a gradient.
  return record(y, channelKernel(x.ctx, x.shape, activation, !!residual).name, residual ? [x, residual] : [x],
    (g, needs) => channelAffineBackward(g, scale, y, activation, !!residual, needs[1] ?? false));
}

/** channelAffine's forward pass, recording nothing (conv2dForwardRaw's epilogue where its kernel has none). */
export function channelAffineRaw(x: Tensor, scale: Tensor, shift: Tensor, activation: Activation, residual: Tensor | null): Tensor {
  const k = channelKernel(x.ctx, x.shape, activation, !!residual);
  const inputs = residual ? [x, scale, shift, residual] : [x, scale, shift];
  return launch({ name: k.name, file: 'channel', inputs: inputs.length, outputs: 1, defines: k.defines(true) }, inputs, x.shape, { ints: k.ints, workgroups: k.workgroups });
}

/** The geometry of kernels/channel.wgsl's passes over a tensor of `shape` (NCHW). */
function channelKernel(ctx: GpuContext, shape: readonly number[], activation: Activation, residual: boolean) {
  const [N, C, H, W] = shape;
  const vec4 = (H * W) % 4 === 0, HW = vec4 ? (H * W) / 4 : H * W;
  return {
    name: `batch_norm${residual ? '_add' : ''}${activationSuffix(activation)}`,
    ints: [N * C, C, HW],
    workgroups: [Math.ceil(HW / 64), planeWorkgroups(ctx, N * C), 1] as [number, number, number],
    defines: (forward: boolean) => ({ FORWARD: forward, RESIDUAL: residual, VEC4: vec4, ...activationDefines(activation) }),
  };
}

/**
 * The backward pass of act(x * scale + shift (+ residual)) given its output y: the gradient g zeroed
 * where the activation passes none, then scaled per channel for x and, with a residual, passed as is
 * to it ([gx, gr]; gr null unless `residualNeeded`). Shared by channelAffine and the convolutions
 * whose epilogue applies the same map (conv2dAffine, the depthwise kernel).
 */
export function channelAffineBackward(g: Tensor, scale: Tensor, y: Tensor, activation: Activation, residual: boolean, residualNeeded: boolean): [Tensor, Tensor | null] {
  const k = channelKernel(y.ctx, y.shape, activation, residual);
  const gx = new Tensor(y.ctx, y.shape), gr = residual ? new Tensor(y.ctx, y.shape) : null;
  y.ctx.dispatch({ name: `${k.name}_backward`, file: 'channel', inputs: activation ? 3 : 2, outputs: gr ? 2 : 1, defines: k.defines(false) },
    { inputs: activation ? [g.buffer, scale.buffer, y.buffer] : [g.buffer, scale.buffer], outputs: gr ? [gx.buffer, gr.buffer] : [gx.buffer], ints: k.ints, workgroups: k.workgroups });
  if (gr && !residualNeeded) {
    gr.release();
    return [gx, null];
  }
  return [gx, gr];
}
