import type { GpuContext } from '../../gpu/device.ts';
import { Tensor } from '../tensor.ts';

export * from './elementwise.ts';
export * from './layout.ts';
export * from './reduce.ts';
export * from './shape.ts';
export * from './conv.ts';
export * from './conv-tune.ts';
export * from './grouped.ts';
export * from './broadcast.ts';
export { parseWinograd, winograd, type WinogradTile, type WinogradTiles } from './winograd.ts';
export * from './pool.ts';
export * from './linalg.ts';
export * from './nn.ts';
export * from './resample.ts';

/** Uploads values (any numeric array) as a float32 tensor. */
export function fromArray(ctx: GpuContext, data: ArrayLike<number>, shape: readonly number[]): Tensor {
  const t = new Tensor(ctx, shape);
  if (data.length !== t.size) {
    t.release();
    throw new Error(`${data.length} values do not fill a tensor of shape [${shape.join(', ')}] (${t.size})`);
  }
  ctx.write(t.buffer, data instanceof Float32Array ? data : Float32Array.from(data));
  return t;
}
