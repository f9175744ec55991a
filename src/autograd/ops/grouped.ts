import { record } from '../grad.ts';
import { Tensor } from '../tensor.ts';
import { grid, planeGrid } from './launch.ts';
import { sumAxisRaw } from './reduce.ts';
import { type Activation, activationDefines, activationSuffix, channelAffine, channelAffineBackward, inputAffineDefines, inputAffineOf } from './nn.ts';

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

const floorDiv = (a: number, b: number) => Math.floor(a / b);

/** A depthwise layer: one input and one output channel per group (kernels/depthwise.wgsl). */
const isDepthwise = (ints: number[]) => ints[15] === 1 && ints[16] === 1;

/**
 * How many lanes the depthwise kernel aims for ('auto': 4096 on CPU adapters, whose few threads gain
 * from long columns, each patch row loaded once; 2^17 on GPUs). Fewer planes split columns into more
 * chunks. The same sums either way: the same bits.
 */
export const depthwiseSettings: { lanes: 'auto' | number } = { lanes: 'auto' };

/** kernels/depthwise.wgsl's compile-time geometry and its flat grid of TR x TC tiles over `planes` planes of rows x cols. */
function depthwiseLaunch(ctx: Tensor['ctx'], ints: number[], forward: boolean) {
  const [N, C, H, W, , OH, OW, KH, KW, SH, SW, PT, PL, DH, DW] = ints;
  // Tiles of one row (the input gradient's: of one row per stride, so they start at multiples of it)
  // and 4 columns (the input gradient's a multiple of the stride).
  const TR = forward ? 1 : SH, TC = forward ? 4 : SW * Math.ceil(4 / SW);
  const [rows, cols] = forward ? [OH, OW] : [H, W];
  const tilesH = Math.ceil(rows / TR), tilesW = Math.ceil(cols / TC);
  const RMIN = floorDiv(PT - (KH - 1) * DH, SH), CMIN = floorDiv(PL - (KW - 1) * DW, SW);
  // The patch loads as aligned vectors of VIN (4 or 2) where its rows hold a multiple of VIN values
  // and every tile's patch starts a fixed LEAD columns before a multiple of VIN: its first column is
  // the tile's x SW - PL forward, the tile's / SW + CMIN backward, tiles starting at multiples of TC.
  // Tile rows store VOUT (4 or 2) values at a time where rows and TC hold multiples of it.
  const width = (n: number, align: number) => [4, 2].find((v) => n % v === 0 && align % v === 0) ?? 1;
  const VIN = width(forward ? W : OW, forward ? TC * SW : TC / SW), VOUT = width(cols, TC);
  const firstCol = forward ? -PL : CMIN;
  const defines = {
    KH, KW, SH, SW, DH, DW, PT, PL, TR, TC, FORWARD: forward, PROLOGUE: false, ...inputAffineDefines(null, 0),
    RMIN, RMAX: floorDiv(TR - 1 + PT, SH), CMIN, CMAX: floorDiv(TC - 1 + PL, SW),
    VIN, VOUT, VEC_IN: VIN > 1, VEC_OUT: VOUT > 1, LEAD: ((-firstCol % VIN) + VIN) % VIN,
  };
  // A lane makes `rounds` tiles down a column of tiles, keeping the patch rows that each shares with
  // the next: a column whole where the planes' columns give enough lanes, else in chunks.
  const lanes = depthwiseSettings.lanes === 'auto' ? (ctx.cpuAdapter ? 4096 : 1 << 17) : depthwiseSettings.lanes;
  const rounds = Math.ceil(tilesH / Math.min(tilesH, Math.ceil(lanes / (N * C * tilesW))));
  const chunks = Math.ceil(tilesH / rounds);
  return { defines, ints: [N * C, C, H, W, OH, OW, tilesH, tilesW, rounds, chunks], workgroups: grid(ctx, N * C * chunks * tilesW) };
}

/** What groupedConv2dAffine applies after a depthwise convolution: a BatchNorm's per-channel map, then an activation. */
export interface DepthwiseEpilogue { scale: Tensor; shift: Tensor; activation: Activation }

/**
 * A grouped convolution (torch's conv2d with groups, ONNX Conv with group), any padding on each side:
 * depthwise layers (one input channel per group) and the rest. Gradients to input, weight and bias.
 */
export function groupedConv2d(x: Tensor, w: Tensor, bias: Tensor | null = null, opts: GroupedConvOptions = {}): Tensor {
  return groupedForward(x, w, bias, opts, null);
}

/**
 * act(groupedConv2d(x, w, bias) * scale + shift) for a depthwise layer and its inference-mode
 * BatchNorm, in one pass (the depthwise kernel's epilogue) in channelAffine's arithmetic: the same
 * bits as the ops apart. Backward: channelAffine's, then the convolution's. Other grouped layers
 * run the ops apart.
 */
export function groupedConv2dAffine(x: Tensor, w: Tensor, bias: Tensor | null, opts: GroupedConvOptions, scale: Tensor, shift: Tensor, activation: Activation = null): Tensor {
  const { out, ints } = geometry(x.shape, w.shape, opts);
  if (scale.size !== out[1] || shift.size !== out[1]) throw new Error(`groupedConv2dAffine: ${out[1]} output channels, but ${scale.size} scales and ${shift.size} shifts`);
  if (!isDepthwise(ints)) return channelAffine(groupedConv2d(x, w, bias, opts), scale, shift, activation);
  return groupedForward(x, w, bias, opts, { scale, shift, activation });
}

function groupedForward(x: Tensor, w: Tensor, bias: Tensor | null, opts: GroupedConvOptions, epilogue: DepthwiseEpilogue | null): Tensor {
  const { out, ints } = geometry(x.shape, w.shape, opts);
  if (bias && bias.size !== out[1]) throw new Error(`groupedConv2d: bias of ${bias.size} for ${out[1]} output channels`);
  const ctx = x.ctx;
  const y = new Tensor(ctx, out);
  const depthwise = isDepthwise(ints);
  if (depthwise) {
    const d = depthwiseLaunch(ctx, ints, true);
    const extra = [bias, epilogue?.scale ?? null, epilogue?.shift ?? null].filter((t): t is Tensor => t !== null);
    const SCALE_AT = bias ? 4 : 3;
    ctx.dispatch({ name: `depthwise_conv2d${epilogue ? `_bn${activationSuffix(epilogue.activation)}` : ''}`, file: 'depthwise', inputs: 2 + extra.length, outputs: 1,
      defines: { ...d.defines, BIAS: !!bias, AFFINE: !!epilogue, SCALE_AT, SHIFT_AT: SCALE_AT + 1, OUTPUT_AT: 3 + extra.length, ...activationDefines(epilogue?.activation ?? null) } },
    { inputs: [x.buffer, w.buffer, ...extra.map((t) => t.buffer)], outputs: [y.buffer], ints: d.ints, workgroups: d.workgroups });
  } else {
    if (epilogue) throw new Error('groupedForward: an epilogue needs a depthwise layer');
    ctx.dispatch({ name: 'grouped_conv2d', file: 'grouped', inputs: bias ? 3 : 2, outputs: 1, defines: { FORWARD: true, GRAD_INPUT: false, BIAS: !!bias } },
      { inputs: bias ? [x.buffer, w.buffer, bias.buffer] : [x.buffer, w.buffer], outputs: [y.buffer], ints, workgroups: planeGrid(ctx, out[3], out[2], out[0] * out[1]) });
  }
  const inputs = bias ? [x, w, bias] : [x, w];
  return record(y, epilogue ? `depthwise_conv2d_bn${activationSuffix(epilogue.activation)}` : 'grouped_conv2d', inputs, (gyOut, needs, { affineApplied, applyInputAffine }) => {
    // The layer's own BatchNorm and activation backward: applied by its consumer already, or, where
    // only the input gradient is wanted (attributions), by the depthwise kernel as it loads; else a pass.
    const prologue = !!epilogue && !affineApplied && depthwise && needs[0] && !needs[1] && !(bias && needs[2]);
    const gy = epilogue && !affineApplied && !prologue ? channelAffineBackward(gyOut, epilogue.scale, y, epilogue.activation, false, false)[0] : gyOut;
    let gx: Tensor | null = null, gw: Tensor | null = null, gb: Tensor | null = null;
    if (needs[0]) {
      gx = new Tensor(ctx, x.shape);
      if (depthwise) {
        const d = depthwiseLaunch(ctx, ints, false);
        // The input's producer's BatchNorm and activation backward, applied as the kernel stores (grad.ts decides).
        const inputAffine = inputAffineOf(x, applyInputAffine[0]);
        const extra = [...(prologue ? [y, epilogue!.scale] : []), ...(inputAffine ? [x, inputAffine.scale] : [])];
        const name = `depthwise_conv2d_grad_input${prologue ? `_bn${activationSuffix(epilogue!.activation)}` : ''}${inputAffine ? `_into_bn${activationSuffix(inputAffine.activation)}` : ''}`;
        ctx.dispatch({ name, file: 'depthwise', inputs: 2 + extra.length, outputs: 1,
          defines: {
            ...d.defines, BIAS: false, AFFINE: false, SCALE_AT: 0, SHIFT_AT: 0, PROLOGUE: prologue, ...activationDefines(prologue ? epilogue!.activation : null),
            ...inputAffineDefines(inputAffine, prologue ? 5 : 3), OUTPUT_AT: 3 + extra.length,
          } },
        { inputs: [gy.buffer, w.buffer, ...extra.map((t) => t.buffer)], outputs: [gx.buffer], ints: d.ints, workgroups: d.workgroups });
      } else {
        ctx.dispatch({ name: 'grouped_conv2d_grad_input', file: 'grouped', inputs: 2, outputs: 1, defines: { FORWARD: false, GRAD_INPUT: true, BIAS: false } },
          { inputs: [gy.buffer, w.buffer], outputs: [gx.buffer], ints, workgroups: planeGrid(ctx, x.shape[3], x.shape[2], x.shape[0] * x.shape[1]) });
      }
    }
    if (needs[1]) {
      gw = new Tensor(ctx, w.shape);
      ctx.dispatch({ name: 'grouped_conv2d_grad_weight', file: 'grouped', inputs: 2, outputs: 1, defines: { FORWARD: false, GRAD_INPUT: false, BIAS: false } },
        { inputs: [gy.buffer, x.buffer], outputs: [gw.buffer], ints, workgroups: grid(ctx, w.size, 1) });
    }
    if (bias && needs[2]) {
      const [N, K, OH, OW] = out;
      const perImage = sumAxisRaw(gy, N * K, OH * OW, 1);
      gb = sumAxisRaw(perImage, 1, N, K, 1, [K]);
      perImage.release();
    }
    if (gy !== gyOut) gy.release();
    return bias ? [gx, gw, gb] : [gx, gw];
  }, { outputAffine: epilogue ? { scale: epilogue.scale, activation: epilogue.activation } : undefined, appliesInputAffine: [depthwise, false, false] });
}
