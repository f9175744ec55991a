// Multiply-adds x2 of a model's convolutions and classifier for one image, layer by layer in the
// order they run, measured by hooks on a real forward (so v1 / v1.5 strides and any input size count
// right): a ResNet's Conv2d and Linear modules, a graph model's Conv, Gemm and MatMul nodes. The
// gradient to a layer's input costs what its forward costs (no gradient to the weights).
import { fill, noGrad, tidy } from '../src/autograd/index.ts';
import type { GpuContext } from '../src/gpu/device.ts';
import { Conv2d, Linear } from '../src/nn/layers.ts';
import type { ResNet } from '../src/nn/resnet.ts';
import type { GraphModel } from '../src/nn/graph.ts';

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

/** The same for an ONNX graph: each output value of a Conv, Gemm or MatMul costs 2 x its weight's fan-in. */
export function graphLayerFlops(net: GraphModel, size: number): LayerFlops[] {
  const out: LayerFlops[] = [];
  for (const l of net.layers([1, 3, size, size])) {
    const node = net.onnx.nodes.find((n) => n.name === l.node)!;
    const w = net.onnx.initializers.get(node.inputs[1] ?? '')?.dims;
    if (!w || !['Conv', 'Gemm', 'MatMul'].includes(l.opType)) continue;
    const fanIn = l.opType === 'Conv' ? w.slice(1).reduce((a, b) => a * b, 1) : l.opType === 'Gemm' && node.attributes.get('transB') ? w[1] : w[0];
    out.push({ name: l.name, flops: 2 * l.shape.reduce((a, b) => a * b, 1) * fanIn });
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
