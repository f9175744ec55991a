import { Tensor } from '../autograd/tensor.ts';
import * as ops from '../autograd/ops/index.ts';
import { Module, nameModules } from './module.ts';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential, bnRelu, convBn } from './layers.ts';

/**
 * torchvision's ResNets (v1.5: a downsampling bottleneck strides in its 3x3 conv) and the original
 * v1 (Caffe/Keras: it strides in the first 1x1 conv), with torchvision's module names.
 */
export type ResNetArch = 'resnet18' | 'resnet34' | 'resnet50' | 'resnet101' | 'resnet152';
export type ResNetVariant = 'v1' | 'v1.5';

const LAYOUTS: Record<ResNetArch, { block: 'basic' | 'bottleneck'; layers: number[] }> = {
  resnet18: { block: 'basic', layers: [2, 2, 2, 2] },
  resnet34: { block: 'basic', layers: [3, 4, 6, 3] },
  resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  resnet101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  resnet152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
};
export const ARCHS = Object.keys(LAYOUTS) as ResNetArch[];

/** The torchvision ResNet whose state_dict has these keys (blocks per stage, basic or bottleneck), or null. */
export function resnetArchOf(keys: Iterable<string>): ResNetArch | null {
  const blocks = [0, 0, 0, 0];
  let bottleneck = false;
  for (const k of keys) {
    const m = /^layer([1-4])\.(\d+)\.(conv\d)\./.exec(k);
    if (!m) continue;
    blocks[+m[1] - 1] = Math.max(blocks[+m[1] - 1], +m[2] + 1);
    if (m[3] === 'conv3') bottleneck = true;
  }
  const found = ARCHS.find((a) => (LAYOUTS[a].block === 'bottleneck') === bottleneck && LAYOUTS[a].layers.join() === blocks.join());
  return found ?? null;
}

export class BasicBlock extends Module {
  static expansion = 1;
  readonly conv1: Conv2d; readonly bn1: BatchNorm2d; readonly relu: ReLU;
  readonly conv2: Conv2d; readonly bn2: BatchNorm2d; readonly downsample: Sequential | null;
  constructor(inplanes: number, planes: number, stride: number, downsample: Sequential | null) {
    super();
    this.conv1 = this.addChild('conv1', new Conv2d(inplanes, planes, 3, { stride, padding: 1 }));
    this.bn1 = this.addChild('bn1', new BatchNorm2d(planes));
    this.relu = this.addChild('relu', new ReLU()); // used twice, as in torchvision
    this.conv2 = this.addChild('conv2', new Conv2d(planes, planes, 3, { padding: 1 }));
    this.bn2 = this.addChild('bn2', new BatchNorm2d(planes));
    this.downsample = downsample ? this.addChild('downsample', downsample) : null;
  }
  forward(x: Tensor): Tensor {
    const out = convBn(this.conv1, this.bn1, x, this.relu);
    const identity = this.downsample ? shortcut(this.downsample, x) : x;
    return convBn(this.conv2, this.bn2, out, this.relu, identity);
  }
}

export class Bottleneck extends Module {
  static expansion = 4;
  readonly conv1: Conv2d; readonly bn1: BatchNorm2d; readonly conv2: Conv2d; readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d; readonly bn3: BatchNorm2d; readonly relu: ReLU; readonly downsample: Sequential | null;
  constructor(inplanes: number, planes: number, stride: number, downsample: Sequential | null, variant: ResNetVariant) {
    super();
    const s1 = variant === 'v1' ? stride : 1, s3 = variant === 'v1' ? 1 : stride;
    this.conv1 = this.addChild('conv1', new Conv2d(inplanes, planes, 1, { stride: s1 }));
    this.bn1 = this.addChild('bn1', new BatchNorm2d(planes));
    this.conv2 = this.addChild('conv2', new Conv2d(planes, planes, 3, { stride: s3, padding: 1 }));
    this.bn2 = this.addChild('bn2', new BatchNorm2d(planes));
    this.conv3 = this.addChild('conv3', new Conv2d(planes, planes * 4, 1));
    this.bn3 = this.addChild('bn3', new BatchNorm2d(planes * 4));
    this.relu = this.addChild('relu', new ReLU()); // used three times, as in torchvision
    this.downsample = downsample ? this.addChild('downsample', downsample) : null;
  }
  forward(x: Tensor): Tensor {
    let out = convBn(this.conv1, this.bn1, x, this.relu);
    out = convBn(this.conv2, this.bn2, out, this.relu);
    const identity = this.downsample ? shortcut(this.downsample, x) : x;
    return convBn(this.conv3, this.bn3, out, this.relu, identity);
  }
}

/** A block's downsample, Sequential(conv, bn), as one convBn pass unless a hook watches the Sequential itself. */
function shortcut(down: Sequential, x: Tensor): Tensor {
  if (down.hooked) return down.call(x);
  const [conv, bn] = [...down.children.values()] as [Conv2d, BatchNorm2d];
  return convBn(conv, bn, x);
}

export class ResNet extends Module {
  readonly conv1: Conv2d; readonly bn1: BatchNorm2d; readonly relu: ReLU; readonly maxpool: MaxPool2d;
  readonly layers: Sequential[]; readonly avgpool: AdaptiveAvgPool2d; readonly fc: Linear;

  constructor(readonly arch: ResNetArch, readonly variant: ResNetVariant = 'v1.5', readonly numClasses = 1000) {
    super();
    const layout = LAYOUTS[arch];
    if (!layout) throw new Error(`unknown architecture '${arch}'; choose one of ${ARCHS.join(', ')}`);
    if (variant !== 'v1' && variant !== 'v1.5') throw new Error(`unknown ResNet variant '${variant}'; use v1 or v1.5`);
    const expansion = layout.block === 'basic' ? 1 : 4;
    this.conv1 = this.addChild('conv1', new Conv2d(3, 64, 7, { stride: 2, padding: 3 }));
    this.bn1 = this.addChild('bn1', new BatchNorm2d(64));
    this.relu = this.addChild('relu', new ReLU());
    this.maxpool = this.addChild('maxpool', new MaxPool2d({ kernelSize: 3, stride: 2, padding: 1 }));
    let inplanes = 64;
    this.layers = layout.layers.map((blocks, li) => {
      const planes = 64 << li, stride = li === 0 ? 1 : 2;
      const list: Module[] = [];
      for (let b = 0; b < blocks; b++) {
        const s = b === 0 ? stride : 1;
        const needsDown = b === 0 && (s !== 1 || inplanes !== planes * expansion);
        const down = needsDown ? new Sequential(new Conv2d(inplanes, planes * expansion, 1, { stride: s }), new BatchNorm2d(planes * expansion)) : null;
        list.push(layout.block === 'basic' ? new BasicBlock(inplanes, planes, s, down) : new Bottleneck(inplanes, planes, s, down, variant));
        inplanes = planes * expansion;
      }
      return this.addChild(`layer${li + 1}`, new Sequential(...list));
    });
    this.avgpool = this.addChild('avgpool', new AdaptiveAvgPool2d());
    this.fc = this.addChild('fc', new Linear(512 * expansion, numClasses));
    nameModules(this);
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== 3) throw new Error(`${this.arch} expects a normalized image batch [N, 3, H, W], got [${x.shape.join(', ')}]`);
    if (x.shape[2] < 32 || x.shape[3] < 32) throw new Error(`${this.arch} needs images of at least 32x32, got ${x.shape[2]}x${x.shape[3]}`);
    return this.afterStemActivation(convBn(this.conv1, this.bn1, x, this.relu));
  }

  /** What the network does with conv1's output: everything after the stem's convolution (src/nn/stem.ts). */
  afterStem(c: Tensor): Tensor {
    return this.afterStemActivation(bnRelu(this.bn1, this.relu, c));
  }

  private afterStemActivation(a: Tensor): Tensor {
    let y = this.maxpool.call(a);
    for (const l of this.layers) y = l.call(y);
    return this.fc.call(ops.flatten(this.avgpool.call(y)));
  }
}

/**
 * Whether `net` is a ResNet that no hook watches: then a path that skips or reorders its modules' calls
 * (Occlusion's receptive-field forward, IG's linear stem) computes what net.call would.
 */
export function isPlainResNet(net: unknown): net is ResNet {
  return net instanceof ResNet && ![...net.namedModules()].some(([, m]) => m.hooked);
}

export function resnet(arch: ResNetArch, variant: ResNetVariant = 'v1.5', numClasses = 1000): ResNet {
  return new ResNet(arch, variant, numClasses);
}
