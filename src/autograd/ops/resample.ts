import { record } from '../grad.ts';
import { Tensor } from '../tensor.ts';
import { grid, launch } from './launch.ts';

export type InterpolateMode = 'nearest' | 'bilinear';

/** torch.nn.functional.interpolate(x, size=[oh, ow], mode) with align_corners=False, on NCHW tensors. */
export function interpolate(x: Tensor, size: [number, number], mode: InterpolateMode = 'nearest'): Tensor {
  if (x.rank !== 4) throw new Error(`interpolate: input must be [N, C, H, W], got [${x.shape.join(', ')}]`);
  if (mode !== 'nearest' && mode !== 'bilinear') throw new Error(`interpolate: mode '${mode}' is not supported (use 'nearest' or 'bilinear')`);
  const [N, C, H, W] = x.shape, [OH, OW] = size;
  if (!(Number.isInteger(OH) && Number.isInteger(OW) && OH > 0 && OW > 0)) throw new Error(`interpolate: size must be two positive integers, got [${size.join(', ')}]`);
  const ints = [N * C, H, W, OH, OW], floats = [H / OH, W / OW];
  const k = (backward: boolean) => ({ name: `interpolate_${mode}${backward ? '_backward' : ''}`, file: 'interpolate', inputs: 1, outputs: 1, defines: { BILINEAR: mode === 'bilinear', BACKWARD: backward } });
  const y = launch(k(false), [x], [N, C, OH, OW], { ints, floats, workgroups: grid(x.ctx, N * C * OH * OW) });
  return record(y, 'interpolate', [x], (g) => [launch(k(true), [g], x.shape, { ints, floats, workgroups: grid(x.ctx, x.size) })]);
}
