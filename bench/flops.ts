// Multiply-adds x2 of a ResNet's convolutions and classifier for one image, layer by layer in the
// order they run, measured by hooks on a real forward (so v1 / v1.5 strides and any input size count
// right). The gradient to a layer's input costs what its forward costs (no gradient to the weights).
import { fill, noGrad, tidy } from '../src/autograd/index.ts';
import type { GpuContext } from '../src/gpu/device.ts';
import { Conv2d, Linear } from '../src/nn/layers.ts';
import type { ResNet } from '../src/nn/resnet.ts';

export interface LayerFlops {
  name: string;
  flops: number;
}

export function layerFlops(ctx: GpuContext, net: ResNet, size: number): LayerFlops[] {
  const weights = net.stateDict();
  const out: LayerFlops[] = [];
  const removers = [...net.namedModules()].filter(([, m]) => m instanceof Conv2d || m instanceof Linear).map(([name, m]) =>
    m.registerForwardHook((_m, _x, y) => {
      const w = weights.get(`${name}.weight`)!.shape;
      out.push({ name, flops: 2 * y.size * w.slice(1).reduce((a, b) => a * b, 1) });
    }));
  try {
    tidy(() => noGrad(() => net.call(fill(ctx, [1, 3, size, size], 0.1))));
  } finally {
    for (const r of removers) r();
  }
  return out;
}

/** FLOPs of the forward, and of the backward from the output down to (the output of) `layer`, or to the input. */
export function passFlops(layers: LayerFlops[], layer?: string): { forward: number; backward: number } {
  const forward = layers.reduce((s, l) => s + l.flops, 0);
  const from = layer ? layers.findIndex((l) => l.name === layer) + 1 : 0;
  if (from === 0 && layer) throw new Error(`no conv or linear layer '${layer}'`);
  return { forward, backward: layers.slice(from).reduce((s, l) => s + l.flops, 0) };
}
