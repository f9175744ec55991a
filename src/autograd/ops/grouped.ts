import { record } from '../grad.ts';
import { Tensor } from '../tensor.ts';
import { grid, planeGrid } from './launch.ts';
import { sumAxisRaw } from './reduce.ts';

/** ONNX Conv's geometry: pads [top, left, bottom, right], group count. */
export interface GroupedConvOptions {
  stride?: [number, number];
  pads?: [number, number, number, number];
  dilation?: [number, number];
  groups?: number;
}

/** The uniforms of kernels/grouped.wgsl, in its Params order, and the output shape. */
function geometry(xs: readonly number[], ws: readonly number[], o: GroupedConvOptions) {
  if (xs.length !== 4 || ws.length !== 4) throw new Error(`groupedConv2d: input [${xs.join(', ')}] and weight [${ws.join(', ')}] must be 4-D`);
  const [N, C, H, W] = xs, [K, CG, KH, KW] = ws;
  const groups = o.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1 || C % groups || K % groups) throw new Error(`groupedConv2d: ${groups} groups do not divide ${C} input and ${K} output channels`);
  if (CG !== C / groups) throw new Error(`groupedConv2d: weight [${ws.join(', ')}] has ${CG} input channels per group; ${C} channels in ${groups} groups need ${C / groups}`);
  const [SH, SW] = o.stride ?? [1, 1], [PT, PL, PB, PR] = o.pads ?? [0, 0, 0, 0], [DH, DW] = o.dilation ?? [1, 1];
  const OH = Math.floor((H + PT + PB - DH * (KH - 1) - 1) / SH) + 1, OW = Math.floor((W + PL + PR - DW * (KW - 1) - 1) / SW) + 1;
  if (OH <= 0 || OW <= 0) throw new Error(`groupedConv2d: input ${H}x${W} is too small for a ${KH}x${KW} kernel`);
  return { out: [N, K, OH, OW], ints: [N, C, H, W, K, OH, OW, KH, KW, SH, SW, PT, PL, DH, DW, CG, K / groups] };
}

/**
 * A grouped convolution (torch's conv2d with groups, ONNX Conv with group), any padding on each side:
 * depthwise layers (one input channel per group) and the rest. Gradients to input, weight and bias.
 */
export function groupedConv2d(x: Tensor, w: Tensor, bias: Tensor | null = null, opts: GroupedConvOptions = {}): Tensor {
  const { out, ints } = geometry(x.shape, w.shape, opts);
  if (bias && bias.size !== out[1]) throw new Error(`groupedConv2d: bias of ${bias.size} for ${out[1]} output channels`);
  const ctx = x.ctx;
  const y = new Tensor(ctx, out);
  // The row form (kernels/grouped.wgsl) where a row of outputs reads a contiguous row of inputs.
  const KW = ints[8], SW = ints[10], DW = ints[14];
  const ROW_TAPS = SW === 1 && DW === 1 && (KW === 3 || KW === 5) ? KW : 0;
  ctx.dispatch({ name: ROW_TAPS ? `grouped_conv2d_row${ROW_TAPS}` : 'grouped_conv2d', file: 'grouped', inputs: bias ? 3 : 2, outputs: 1, defines: { FORWARD: true, GRAD_INPUT: false, BIAS: !!bias, ROW_TAPS } },
    { inputs: bias ? [x.buffer, w.buffer, bias.buffer] : [x.buffer, w.buffer], outputs: [y.buffer], ints, workgroups: planeGrid(ctx, ROW_TAPS ? Math.ceil(out[3] / 4) : out[3], out[2], out[0] * out[1]) });
  return record(y, 'grouped_conv2d', bias ? [x, w, bias] : [x, w], (gy, needs) => {
    let gx: Tensor | null = null, gw: Tensor | null = null, gb: Tensor | null = null;
    if (needs[0]) {
      gx = new Tensor(ctx, x.shape);
      // The row form for depthwise layers (one channel in and out per group) with stride and dilation 1.
      const depthwise = ints[15] === 1 && ints[16] === 1 && ints[9] === 1 && ints[13] === 1;
      const rows = depthwise && ROW_TAPS ? ROW_TAPS : 0;
      ctx.dispatch({ name: rows ? `grouped_conv2d_grad_input_row${rows}` : 'grouped_conv2d_grad_input', file: 'grouped', inputs: 2, outputs: 1, defines: { FORWARD: false, GRAD_INPUT: true, BIAS: false, ROW_TAPS: rows } },
        { inputs: [gy.buffer, w.buffer], outputs: [gx.buffer], ints, workgroups: planeGrid(ctx, rows ? Math.ceil(x.shape[3] / 4) : x.shape[3], x.shape[2], x.shape[0] * x.shape[1]) });
    }
    if (needs[1]) {
      gw = new Tensor(ctx, w.shape);
      ctx.dispatch({ name: 'grouped_conv2d_grad_weight', file: 'grouped', inputs: 2, outputs: 1, defines: { FORWARD: false, GRAD_INPUT: false, BIAS: false, ROW_TAPS: 0 } },
        { inputs: [gy.buffer, x.buffer], outputs: [gw.buffer], ints, workgroups: grid(ctx, w.size, 1) });
    }
    if (bias && needs[2]) {
      const [N, K, OH, OW] = out;
      const perImage = sumAxisRaw(gy, N * K, OH * OW, 1);
      gb = sumAxisRaw(perImage, 1, N, K, 1, [K]);
      perImage.release();
    }
    return bias ? [gx, gw, gb] : [gx, gw];
  });
}
