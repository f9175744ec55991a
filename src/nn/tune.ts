// Tunes the convolution kernels for the layers of one model: its conv geometries, found by hooks on a
// forward at the input shape, handed to the autotuner (src/autograd/ops/conv-tune.ts).
import { type ConvGeometry, type ConvPass, type TuneChoice, convGeometry, fill, noGrad, tidy, tuneConv, tuningKey } from '../autograd/index.ts';
import type { GpuContext } from '../gpu/device.ts';
import { Conv2d } from './layers.ts';
import type { Module } from './module.ts';

/** Each distinct convolution geometry that a forward of `inputShape` ([N, C, H, W]) runs, in order. */
export function convGeometries(ctx: GpuContext, model: Module, inputShape: readonly number[]): ConvGeometry[] {
  const found = new Map<string, ConvGeometry>();
  const removers = [...model.namedModules()].filter(([, m]) => m instanceof Conv2d).map(([, m]) =>
    m.registerForwardHook((mod, x) => {
      const conv = mod as Conv2d;
      const g = convGeometry(x.shape, [conv.outChannels, conv.inChannels, conv.kernelSize, conv.kernelSize], conv.options);
      found.set(tuningKey('forward', g), g);
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
