/**
 * A plain ResNet begins with a convolution: linear in its input (affine with a bias). Along a straight
 * path b + a (x - b), as Integrated Gradients walks, conv1's output is conv1(b) + a (conv1(x) - conv1(b)),
 * and the gradient to the input is conv1's input gradient of the gradient at its output: one linear
 * map, the same at every step. So the steps can start from conv1's outputs for x and b, and the
 * weighted sum of the gradients at conv1's output can go back through conv1 once instead of once per
 * step. On ResNet-18 at 224 that is the stem's forward and its 3-channel input gradient, about a
 * seventh of each step's work on lavapipe. The path's points then differ from conv1(b + a (x - b))
 * by rounding only (the same sums, interpolated after instead of before).
 */
import { type Tensor, noGrad } from '../autograd/index.ts';
import { ResNet } from './resnet.ts';

export interface LinearStem {
  /** conv1 of an input batch [N, 3, H, W]: the point a path over the input maps to. */
  stem(x: Tensor): Tensor;
  /** The network from conv1's output on: stem, then this, is the network. */
  afterStem(c: Tensor): Tensor;
  /** The gradient to an input of shape `inputShape`, from a gradient at conv1's output (linear). */
  toInput(g: Tensor, inputShape: readonly number[]): Tensor;
}

/** The linear stem of `net` when it is a ResNet that no hook watches (hooks could see or change conv1's input), else null. */
export function linearStem(net: unknown): LinearStem | null {
  if (!(net instanceof ResNet) || [...net.namedModules()].some(([, m]) => m.hooked)) return null;
  const conv = net.conv1;
  return {
    stem: (x) => noGrad(() => conv.call(x)),
    afterStem: (c) => net.afterStem(c),
    toInput: (g, inputShape) => conv.inputGradient(g, inputShape),
  };
}
