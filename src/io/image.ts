/**
 * Images on the CPU and torchvision's preprocessing, reproduced exactly: Resize (shorter side, PIL's
 * bilinear filter with antialiasing, in PIL's fixed-point 8-bit arithmetic), CenterCrop (Python's
 * rounding), ToTensor and Normalize. Decoding lives in image-decode.ts (Node or browser).
 */
export interface RgbImage {
  width: number;
  height: number;
  /** RGB, 8 bits per channel, row-major. */
  data: Uint8Array;
}

const PRECISION_BITS = 32 - 8 - 2;

/** PIL's precompute_coeffs for the bilinear ("triangle") filter, as fixed-point weights. */
function coefficients(inSize: number, outSize: number): { bounds: Int32Array; weights: Int32Array; ksize: number } {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 1.0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      k[x] = t < 1 ? 1 - t : 0;
      ww += k[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      weights[xx * ksize + x] = Math.trunc(w * (1 << PRECISION_BITS) + (w < 0 ? -0.5 : 0.5));
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { bounds, weights, ksize };
}

const clip8 = (v: number) => Math.min(255, Math.max(0, Math.floor(v / 2 ** PRECISION_BITS)));

/** One separable pass along x (horizontal) or y, as PIL's ImagingResampleHorizontal/Vertical_8bpc. */
function resamplePass(src: RgbImage, outW: number, outH: number, horizontal: boolean): RgbImage {
  const { bounds, weights, ksize } = coefficients(horizontal ? src.width : src.height, horizontal ? outW : outH);
  const out = new Uint8Array(outW * outH * 3);
  const half = 2 ** (PRECISION_BITS - 1);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const i = horizontal ? x : y;
      const min = bounds[2 * i], n = bounds[2 * i + 1];
      for (let c = 0; c < 3; c++) {
        let ss = half;
        for (let t = 0; t < n; t++) {
          const sx = horizontal ? min + t : x, sy = horizontal ? y : min + t;
          ss += src.data[(sy * src.width + sx) * 3 + c] * weights[i * ksize + t];
        }
        out[(y * outW + x) * 3 + c] = clip8(ss);
      }
    }
  }
  return { width: outW, height: outH, data: out };
}

/** PIL's Image.resize((w, h), BILINEAR): horizontal pass first, then vertical, each rounded to 8 bits. */
export function resizeBilinear(img: RgbImage, width: number, height: number): RgbImage {
  let cur = img;
  if (width !== cur.width) cur = resamplePass(cur, width, cur.height, true);
  if (height !== cur.height) cur = resamplePass(cur, cur.width, height, false);
  return cur;
}

/** torchvision Resize(size) with an int: the shorter side becomes `size`, the longer keeps the aspect (truncated). */
export function resizeShorter(img: RgbImage, size: number): RgbImage {
  const { width: w, height: h } = img;
  if ((w <= h && w === size) || (h <= w && h === size)) return img;
  return w < h ? resizeBilinear(img, size, Math.trunc((size * h) / w)) : resizeBilinear(img, Math.trunc((size * w) / h), size);
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision CenterCrop(size) (the image must be at least that large). */
export function centerCrop(img: RgbImage, size: number): RgbImage {
  if (img.width < size || img.height < size) throw new Error(`cannot center-crop ${size}x${size} from a ${img.width}x${img.height} image`);
  const top = roundHalfEven((img.height - size) / 2), left = roundHalfEven((img.width - size) / 2);
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) out.set(img.data.subarray(((top + y) * img.width + left) * 3, ((top + y) * img.width + left + size) * 3), y * size * 3);
  return { width: size, height: size, data: out };
}

/** ToTensor: [3, H, W] floats in [0, 1]. */
export function toTensorData(img: RgbImage): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = img.data[i * 3 + c] / 255;
  return out;
}

/** Normalize(mean, std) on [3, H, W] data, in place. */
export function normalizeData(chw: Float32Array, mean: readonly number[], std: readonly number[]): Float32Array {
  const n = chw.length / 3;
  for (let c = 0; c < 3; c++) for (let i = 0; i < n; i++) chw[c * n + i] = (chw[c * n + i] - mean[c]) / std[c];
  return chw;
}

import type { Preprocessing } from '../nn/model.ts';

/** Resize, CenterCrop and ToTensor: the `image` a model's input is normalized from ([3, crop, crop] in [0, 1]). */
export function preprocessImage(img: RgbImage, p: Pick<Preprocessing, 'resize' | 'crop'>): Float32Array {
  return toTensorData(centerCrop(resizeShorter(img, p.resize), p.crop));
}

/**
 * The model's input normalized from `pixels` (preprocessImage's [3, crop, crop] in [0, 1]), in a new
 * array: the pixels stay as they are for the figures drawn over them, so one resize serves both.
 */
export function normalizedInput(pixels: Float32Array, p: Pick<Preprocessing, 'mean' | 'std'>): Float32Array {
  return normalizeData(pixels.slice(), p.mean, p.std);
}

/** An image as the model's normalized input data [3, crop, crop]. */
export function imageToInput(img: RgbImage, p: Preprocessing): Float32Array {
  return normalizeData(preprocessImage(img, p), p.mean, p.std);
}
