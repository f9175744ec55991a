/**
 * What a page shows of one attribution, computed the same way on the server and in the browser:
 * for an image, Captum Insights' pictures (heat map and blended heat map of absolute values over the
 * original); for a text or a table row, its FeatureOutput (a value in [-100, 100] per token or column);
 * and the per-feature contribution (each feature's attribution sum, over the L1 norm of all of them).
 */
import type { RgbImage } from '../io/image.ts';
import { type HostArray, renderImageAttr } from '../io/visualize.ts';
import { type Feature, type FeatureOutput, netContributions } from './features.ts';

export interface Prediction {
  index: number;
  name: string;
  score: number;
}

export interface AttributionPictures {
  heatMap: RgbImage;
  blended: RgbImage;
  /** One entry per feature, as Captum Insights' bar chart. */
  contributions: { name: string; value: number; sum: number }[];
  /** Set when the attributions are all zero: the pictures are blank and this says why. */
  note?: string;
}

/** The k best classes by score, best first. */
export function topPredictions(scores: ArrayLike<number>, classes: string[], k: number): Prediction[] {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  return order.slice(0, k).map((i) => ({ index: i, name: classes[i] ?? String(i), score: scores[i] }));
}

/** What a card shows of a text or table attribution: its words or columns scaled, and the note for all zeros. */
export interface FeatureView {
  output: FeatureOutput;
  contributions: AttributionPictures['contributions'];
  note?: string;
}

/**
 * A text's attributions ([1, L] over the tokens, or [1, L, D] at a per-token layer) or a table row's
 * ([1, C]); `shown` is what the example holds: the token ids, or the row's values before transforms.
 */
export function featureView(feature: Exclude<Feature, { kind: 'image' }>, attr: HostArray, shown: ArrayLike<number>): FeatureView {
  let sum = 0, allZero = true;
  for (let i = 0; i < attr.data.length; i++) { sum += attr.data[i]; if (attr.data[i] !== 0) allZero = false; }
  const value = netContributions([attr.data])[0];
  const output = feature.kind === 'text'
    ? feature.visualize(attr.data, shown.length, Array.from(shown), value)
    : feature.visualize(attr.data, shown, value);
  return { output, contributions: [{ name: feature.name, value, sum }], ...(allZero ? { note: 'the attributions are all zero' } : {}) };
}

/** attr [1, C, H, W] or [C, H, W] at the image's size; original [3, H, W] in [0, 1]. */
export function attributionPictures(attr: HostArray, original: HostArray, featureName: string): AttributionPictures {
  let sum = 0;
  for (let i = 0; i < attr.data.length; i++) sum += attr.data[i];
  const contributions = [{ name: featureName, value: netContributions([attr.data])[0], sum }];
  let allZero = true;
  for (let i = 0; i < attr.data.length && allZero; i++) allZero = attr.data[i] === 0;
  if (allZero) {
    // Captum's normalization divides by zero here; show the image and say so instead.
    const blank = renderImageAttr(null, original, { method: 'original_image' });
    return { heatMap: { ...blank, data: new Uint8Array(blank.data.length).fill(255) }, blended: blank, contributions, note: 'the attributions are all zero' };
  }
  const opts = { sign: 'absolute_value' as const, outlierPerc: 2 };
  return {
    heatMap: renderImageAttr(attr, null, { ...opts, method: 'heat_map' }),
    blended: renderImageAttr(attr, original, { ...opts, method: 'blended_heat_map' }),
    contributions,
  };
}

/** Float32 data as base64 (little-endian), the JSON API's form for raw attributions. */
export function encodeFloats(data: Float32Array): string {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function decodeFloats(b64: string): Float32Array {
  const s = atob(b64), bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

/** What a card shows of one feature's attribution: an image's pictures, or a text's or row's scaled values. */
export interface PartView {
  name: string;
  type: Feature['kind'];
  heatMap?: RgbImage;
  blended?: RgbImage;
  feature?: FeatureOutput;
  note?: string;
}

/**
 * The views of an attribution, one per feature, and the contribution of each (Captum's net
 * contribution across features). With one feature, `attr` is its attribution (a text's may be at a
 * per-token layer, [1, L, D]); with several, the packed attribution [1, sum of sizes], split by the
 * parts' input sizes. `shown[k]` is what part k's card shows.
 */
export function attributionViews(features: Feature[], attr: HostArray, parts: { shown: HostArray; inputShape: readonly number[] }[]): { views: PartView[]; contributions: AttributionPictures['contributions'] } {
  const slices: HostArray[] = [];
  if (features.length === 1) slices.push(attr);
  else {
    let at = 0;
    for (const p of parts) {
      const n = p.inputShape.reduce((a, b) => a * b, 1);
      slices.push({ data: Array.prototype.slice.call(attr.data, at, at + n) as number[], shape: [1, ...p.inputShape] });
      at += n;
    }
    if (at !== attr.data.length) throw new Error(`an attribution of ${attr.data.length} values for features of ${at}`);
  }
  const values = netContributions(slices.map((s) => s.data));
  const views = features.map((f, k): PartView => {
    if (f.kind === 'image') {
      const pics = attributionPictures(slices[k], parts[k].shown, f.name);
      return { name: f.name, type: f.kind, heatMap: pics.heatMap, blended: pics.blended, note: pics.note };
    }
    const v = featureView(f, slices[k], parts[k].shown.data);
    return { name: f.name, type: f.kind, feature: { ...v.output, contribution: values[k] }, note: v.note };
  });
  const contributions = slices.map((s, k) => {
    let sum = 0;
    for (let i = 0; i < s.data.length; i++) sum += s.data[i];
    return { name: features[k].name, value: values[k], sum };
  });
  return { views, contributions };
}
