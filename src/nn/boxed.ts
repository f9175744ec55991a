/**
 * The receptive-field forward of a ResNet for a batch of inputs that differ from one base input only
 * inside a box per item (Occlusion's windows). Each layer recomputes only the outputs whose receptive
 * field meets the item's box: its windows are cut from the base map and the item's patch, with the
 * layer's padding, and run through the unpadded layer. Convolution sums run in the same order as on
 * the full map, so the logits are the same bits as the full forward's; where a layer runs Winograd
 * F(2x2, 3x3), its boxes start on the full map's tile grid (even rows and columns), so that each
 * output is computed at the same place in its tile. Once a box covers MATERIALIZE_AT of its map, the
 * batch is materialized and the rest of the network runs as usual. The base maps are the same for
 * every batch over one input: a BaseMaps computes them with the first batch and hands them to the others.
 */
import { Tensor, keep } from '../autograd/tensor.ts';
import * as ops from '../autograd/ops/index.ts';
import { launch, planeWorkgroups } from '../autograd/ops/launch.ts';
import type { BatchNorm2d, Conv2d, MaxPool2d, Sequential } from './layers.ts';
import { BasicBlock, Bottleneck, ResNet, isPlainResNet } from './resnet.ts';
import { winograd, winogradApplies } from '../autograd/ops/winograd.ts';

/** Item b equals `base` [1, C, H, W] except in its box at boxes[2b], boxes[2b + 1] (y, x), where it is patch[b] [C, PH, PW]. */
export interface Boxed {
  base: Tensor;
  patch: Tensor;
  boxes: Int32Array;
}

/**
 * Whether the receptive-field forward computes exactly what net.call would: a ResNet that no hook
 * watches, and no F(4x4) Winograd forward (whose outputs depend on their whole tile, not their receptive field).
 */
export function canBox(net: unknown): net is ResNet {
  return isPlainResNet(net) && winograd.forwardTile !== 4;
}

/**
 * The share of its map at which a box is materialized (the batch's whole maps made) and the layers
 * after it run as usual: the fastest of those measured (docs/performance.md).
 */
export const MATERIALIZE_AT = 0.75;

/** A network with a receptive-field forward of its own (GraphModel, graph-boxed.ts). */
interface BoxingNetwork { canBox(): boolean; boxedForward(X: Boxed, bases: BaseMaps): Tensor }

/** The receptive-field forward of `net` when it has one that computes what its call() would, else null. */
export function boxedForwardOf(net: unknown): ((X: Boxed, bases: BaseMaps) => Tensor) | null {
  if (canBox(net)) return (X, bases) => boxedForward(net, X, bases);
  const b = net as BoxingNetwork | null;
  if (b && typeof b.canBox === 'function' && typeof b.boxedForward === 'function' && b.canBox()) return (X, bases) => b.boxedForward(X, bases);
  return null;
}

/**
 * The base input's map at each layer, kept across batches (outside their tidy scopes) by the layer
 * that makes it; `release` frees them. Without one, each batch computes its own.
 */
export class BaseMaps {
  private maps = new Map<object, Tensor>();
  get(layer: object, compute: () => Tensor): Tensor {
    let t = this.maps.get(layer);
    if (!t) this.maps.set(layer, (t = keep(compute())));
    return t;
  }
  release(): void {
    for (const t of this.maps.values()) t.release();
    this.maps.clear();
  }
}

/**
 * Windows [B, C, CH, CW] of each item's map at the given origins (fill outside the map). Windows that
 * are the items' boxes themselves (a 1x1 convolution's, a residual's of the same box) are the patch.
 */
export function boxWindows(X: Boxed, origins: Int32Array, CH: number, CW: number, fill = 0): Tensor {
  const [B, C, PH, PW] = X.patch.shape, [, , H, W] = X.base.shape;
  if (CH === PH && CW === PW && origins.every((o, i) => o === X.boxes[i])) return X.patch;
  const place = new Float32Array(B * 4);
  for (let b = 0; b < B; b++) place.set([X.boxes[2 * b], X.boxes[2 * b + 1], origins[2 * b], origins[2 * b + 1]], 4 * b);
  const ctx = X.base.ctx;
  const QW = Math.ceil(CW / 4), vec = CW % 4 === 0;
  return launch({ name: `boxed_window${vec ? '_vec4' : ''}`, file: 'boxed', inputs: 3, outputs: 1, defines: { VEC_OUT: vec } }, [X.base, X.patch, ops.fromArray(ctx, place, [B, 4])], [B, C, CH, CW],
    { ints: [B, C, H, W, PH, PW, CH, CW, QW], floats: [fill], workgroups: [Math.ceil(CH * QW / 8), 1, planeWorkgroups(ctx, B * C)] });
}

/** The whole maps [B, C, H, W]. */
export function materialize(X: Boxed): Tensor {
  const [, , H, W] = X.base.shape;
  return boxWindows(X, new Int32Array(X.boxes.length), H, W);
}

/** A sliding layer's geometry per axis (rows, columns): kernel, stride, dilation, leading padding. */
export interface SlideGeometry { k: [number, number]; s: [number, number]; d: [number, number]; lead: [number, number] }

/**
 * Where a sliding layer with `out` [OH, OW] outputs must recompute: per item, the box of outputs whose
 * receptive field meets the input box (one size for all items, moved inside the map at its borders),
 * and the input window those outputs read (it may reach past the map: the caller fills it). With
 * `align` 2, boxes start at even outputs (Winograd's tile grid): one more row and column, and a length
 * that keeps O - length even.
 */
export function slideBox(X: Boxed, g: SlideGeometry, out: [number, number], align = 1) {
  const [B, , PH, PW] = X.patch.shape;
  const axis = (a: 0 | 1, P: number) => {
    const k = g.k[a], s = g.s[a], d = g.d[a], p = g.lead[a], O = out[a];
    const need = Math.floor((P - 1 + (k - 1) * d) / s) + 1;
    let len = Math.min(O, need);
    if (align !== 1) {
      len = Math.min(O, Math.ceil((need + 1) / 2) * 2);
      if ((O - len) % 2) len = Math.min(O, len + 1);
    }
    const start = (lo: number) => {
      const first = Math.max(Math.ceil((lo + p - (k - 1) * d) / s), 0);
      return Math.max(0, Math.min(first - (first % align), O - len));
    };
    return { len, start, origin: (box: number) => box * s - p, window: (len - 1) * s + (k - 1) * d + 1 };
  };
  const rows = axis(0, PH), cols = axis(1, PW);
  const boxes = new Int32Array(2 * B), origins = new Int32Array(2 * B);
  for (let b = 0; b < B; b++) {
    boxes[2 * b] = rows.start(X.boxes[2 * b]);
    boxes[2 * b + 1] = cols.start(X.boxes[2 * b + 1]);
    origins[2 * b] = rows.origin(boxes[2 * b]);
    origins[2 * b + 1] = cols.origin(boxes[2 * b + 1]);
  }
  return { boxes, origins, CH: rows.window, CW: cols.window, OPH: rows.len, OPW: cols.len };
}

/** slideBox for a square layer with symmetric padding p, its output size from the input's. */
function slide(X: Boxed, k: number, s: number, p: number, d: number, align = 1) {
  const [, , H, W] = X.base.shape;
  const O = (n: number) => Math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1;
  return slideBox(X, { k: [k, k], s: [s, s], d: [d, d], lead: [p, p] }, [O(H), O(W)], align);
}

/**
 * A convolution and its BatchNorm (+ residual) (+ ReLU), in one pass per map (the convolution's
 * epilogue); the residual's changes lie inside the output's boxes (a block's branch grows its input's box).
 */
function convBn(c: Conv2d, bn: BatchNorm2d, X: Boxed, bases: BaseMaps, relu: boolean, residual: Boxed | null = null): Boxed {
  const k = c.kernelSize, s = c.options.stride ?? 1, d = c.options.dilation ?? 1;
  const tiled = winogradApplies({ KH: k, KW: k, SH: s, SW: s, DH: d, DW: d }, c.inChannels, c.outChannels, winograd.forwardTile);
  const g = slide(X, k, s, c.options.padding ?? 0, d, tiled ? 2 : 1);
  const r = residual ? boxWindows(residual, g.boxes, g.OPH, g.OPW) : null;
  return {
    base: bases.get(bn, () => c.forwardWithBatchNorm(X.base, bn, relu, residual?.base ?? null)),
    patch: c.forwardWithBatchNorm(boxWindows(X, g.origins, g.CH, g.CW), bn, relu, r, true),
    boxes: g.boxes,
  };
}

function maxPool(m: MaxPool2d, X: Boxed, bases: BaseMaps): Boxed {
  const o = m.options, k = o.kernelSize, s = o.stride ?? k, p = o.padding ?? 0, d = o.dilation ?? 1;
  if (typeof k !== 'number' || typeof s !== 'number' || typeof p !== 'number' || typeof d !== 'number') throw new Error('boxed forward: square pooling only');
  const g = slide(X, k, s, p, d);
  const win = boxWindows(X, g.origins, g.CH, g.CW, -Infinity); // max pooling's padding never wins
  return { base: bases.get(m, () => m.call(X.base)), patch: ops.maxPool2d(win, { kernelSize: k, stride: s, dilation: d }), boxes: g.boxes };
}

function downsample(seq: Sequential, X: Boxed, bases: BaseMaps): Boxed {
  const [c, bn] = [...seq.children.values()] as [Conv2d, BatchNorm2d];
  return convBn(c, bn, X, bases, false);
}

function block(b: BasicBlock | Bottleneck, X: Boxed, bases: BaseMaps): Boxed {
  let out = convBn(b.conv1, b.bn1, X, bases, true);
  const identity = b.downsample ? downsample(b.downsample, X, bases) : X;
  if (b instanceof Bottleneck) {
    out = convBn(b.conv2, b.bn2, out, bases, true);
    return convBn(b.conv3, b.bn3, out, bases, true, identity);
  }
  return convBn(b.conv2, b.bn2, out, bases, true, identity);
}

/**
 * Logits [B, classes] of the items; call under noGrad. `boxes` are the patches' top-left corners in
 * the input; `bases` (kept by the caller across batches over the same X.base) spares recomputing the
 * base maps.
 */
export function boxedForward(net: ResNet, X: Boxed, bases?: BaseMaps, maxFraction = MATERIALIZE_AT): Tensor {
  if (!canBox(net)) throw new Error('boxedForward: the network must be a ResNet without hooks');
  const own = bases ? null : new BaseMaps();
  const maps = bases ?? own!;
  try {
    X = maxPool(net.maxpool, convBn(net.conv1, net.bn1, X, maps, true), maps);
    let y: Tensor | null = null;
    for (const layer of net.layers) {
      for (const b of layer.children.values()) {
        if (y) { y = b.call(y); continue; }
        X = block(b as BasicBlock | Bottleneck, X, maps);
        const [, , PH, PW] = X.patch.shape, [, , H, W] = X.base.shape;
        if (PH * PW >= maxFraction * H * W) y = materialize(X);
      }
    }
    return net.fc.call(ops.flatten(net.avgpool.call(y ?? materialize(X))));
  } finally {
    own?.release();
  }
}
