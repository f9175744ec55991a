/**
 * A plain ResNet begins with a convolution, linear in its input: the gradient to the input is conv1's
 * input gradient of the gradient at its output, one linear map, the same at every step of Integrated
 * Gradients. So IG can take each step's gradient at conv1's output, sum the steps there, and send the
 * sum back through conv1 once instead of once per step (on ResNet-18 at 224 the stem's 3-channel
 * input gradient was about half of the direct input-gradient time of an IG batch on lavapipe). Each
 * step's forward still runs conv1 on its own input: interpolating conv1's outputs instead, exact in
 * arithmetic, rounds differently and moved a near-zero ReLU input (IG at 64x64, 1.1e-3 from Captum's).
 */
import { type Tensor, noGrad } from '../autograd/index.ts';
import { isPlainResNet } from './resnet.ts';

export interface LinearStem {
  /** conv1 of an input batch [N, 3, H, W]: the point a path over the input maps to. */
  stem(x: Tensor): Tensor;
  /** The network from conv1's output on: stem, then this, is the network. */
  afterStem(c: Tensor): Tensor;
  /** The gradient to an input of shape `inputShape`, from a gradient at conv1's output (linear). */
  toInput(g: Tensor, inputShape: readonly number[]): Tensor;
}

/** A network that finds its own linear stem (GraphModel: a first Conv, decided on the graph). */
interface StemmedNetwork { linearStem(): LinearStem | null }

/** The linear stem of `net`: a ResNet's conv1, or a graph model's first Conv, when no hook watches them; else null. */
export function linearStem(net: unknown): LinearStem | null {
  if (net && typeof (net as StemmedNetwork).linearStem === 'function') return (net as StemmedNetwork).linearStem();
  if (!isPlainResNet(net)) return null;
  const conv = net.conv1;
  return {
    stem: (x) => noGrad(() => conv.call(x)),
    afterStem: (c) => net.afterStem(c),
    toInput: (g, inputShape) => conv.inputGradient(g, inputShape),
  };
}
