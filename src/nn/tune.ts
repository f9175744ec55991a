// Tunes the convolution kernels for the layers of one model: its conv geometries, found by hooks on a
// forward at the input shape, handed to the autotuner (src/autograd/ops/conv-tune.ts).
import { type ConvGeometry, type ConvPass, type TuneChoice, convGeometry, fill, noGrad, tidy, tuneConv, tuningKey } from '../autograd/index.ts';
import type { GpuContext } from '../gpu/device.ts';
import { Conv2d } from './layers.ts';
import type { Module } from './module.ts';
import type { Tensor } from '../autograd/tensor.ts';
import type { OnnxNode } from '../io/onnx.ts';
import { GraphModel } from './graph.ts';
import { convAttributes } from './onnx-ops.ts';

/** The dense kernels' geometry of a graph model's Conv node (one group, even pads), or null. */
function graphConvGeometry(graph: Module, m: Module, x: Tensor): ConvGeometry | null {
  const node = (m as { node?: OnnxNode }).node;
  if (node?.opType !== 'Conv' || !(graph instanceof GraphModel) || x.rank !== 4) return null;
  const w = graph.onnx.initializers.get(node.inputs[1]);
  if (!w || w.dims.length !== 4) return null;
  const dense = convAttributes(node, x, { shape: w.dims }).dense;
  return dense && convGeometry(x.shape, w.dims, dense);
}

/** Each distinct convolution geometry (dense kernels) that a forward of `inputShape` ([N, C, H, W]) runs, in order: a ResNet's Conv2d layers or a graph's Conv nodes. */
export function convGeometries(ctx: GpuContext, model: Module, inputShape: readonly number[]): ConvGeometry[] {
  const found = new Map<string, ConvGeometry>();
  const removers = [...model.namedModules()].filter(([, m]) => m instanceof Conv2d || (m as { node?: OnnxNode }).node?.opType === 'Conv').map(([, m]) =>
    m.registerForwardHook((mod, x) => {
      let g: ConvGeometry | null;
      if (mod instanceof Conv2d) g = convGeometry(x.shape, [mod.outChannels, mod.inChannels, mod.kernelSize, mod.kernelSize], mod.options);
      else g = graphConvGeometry(model, mod, x);
      if (g) found.set(tuningKey('forward', g), g);
    }));
  try {
    tidy(() => noGrad(() => model.call(fill(ctx, inputShape, 0.1))));
  } finally {
    for (const r of removers) r();
  }
  return [...found.values()];
}

/**
 * Picks the fastest tiles for every convolution of `model` at `inputShape` (the batch that most work
 * will run at, e.g. [16, 3, 224, 224]) on this device; the forward and input-gradient passes by
 * default, which are all that attributions run. Results do not change, only speed.
 */
export async function tuneModel(ctx: GpuContext, model: Module, inputShape: readonly number[],
  opts: { passes?: ConvPass[]; log?: (c: TuneChoice) => void } = {}): Promise<TuneChoice[]> {
  return tuneConv(ctx, convGeometries(ctx, model, inputShape), opts);
}
