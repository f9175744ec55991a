/**
 * Captum Insights' features (captum/insights/attr_vis/features.py): what one model input is, how the
 * dataset's value becomes the model's input and its baseline, and what a card shows of it. One feature
 * per model input. The text and general outputs are computed from the attributions the same way on the
 * server and in the browser. Captum divides with safe_div: a zero norm leaves zeros.
 */
import type { HostArray } from '../io/visualize.ts';
import type { Vocabulary } from './text.ts';

/** A transform of one example (Captum applies its transforms to batches; ours are per example). */
export type Transform = (x: HostArray) => HostArray;

export interface FeatureTransforms {
  /** Each makes a baseline from the transformed input; Captum Insights uses the first. Default: zeros. */
  baselineTransforms?: Transform[];
  /** Applied in order to the dataset's value before the model sees it (normalization, typically). */
  inputTransforms?: Transform[];
}

export type FeatureKind = 'image' | 'text' | 'general';

/** What a card shows of one text or general feature (Captum's FeatureOutput). */
export interface FeatureOutput {
  name: string;
  /** The input as shown: the tokens of a text, "category: value" per column of a table row. */
  base: string[];
  /** Per token or column, the attribution scaled to [-100, 100]. */
  modified: number[];
  type: 'text' | 'general';
  contribution: number;
}

const safeDiv = (v: number, d: number) => v / (d !== 0 ? d : 1);

function checkName(name: unknown, what: string): void {
  if (typeof name !== 'string' || !name) throw new Error(`${what} needs a name`);
}

/** An image input [C, H, W]. */
export class ImageFeature {
  readonly kind = 'image';
  constructor(readonly name: string, readonly options: FeatureTransforms & {
    /** What the page shows of the image (default: the dataset's image as is, which must be in [0, 1]). */
    visualizationTransform?: Transform;
  } = {}) {
    checkName(name, 'ImageFeature');
  }
}

/**
 * A text input (token ids [L], exact in float32): attributions [L] or [L, D] are summed over D and
 * scaled by their largest magnitude. With a vocabulary, the tokens show as words and the explorer
 * takes new sentences too.
 */
export class TextFeature {
  readonly kind = 'text';
  constructor(readonly name: string, readonly options: FeatureTransforms & {
    visualizationTransform?: (ids: number[]) => string[];
    vocabulary?: Vocabulary;
  } = {}) {
    checkName(name, 'TextFeature');
  }

  /** The words shown for token ids. */
  words(ids: number[]): string[] {
    const { visualizationTransform: show, vocabulary: v } = this.options;
    return show ? show(ids) : v ? ids.map((i) => v.vocab[i] ?? String(i)) : ids.map(String);
  }

  visualize(attribution: ArrayLike<number>, tokens: number, data: number[], contributionFrac: number): FeatureOutput {
    if (attribution.length % tokens !== 0) throw new Error(`TextFeature ${this.name}: ${attribution.length} attributions for ${tokens} tokens`);
    const dim = attribution.length / tokens, perToken = new Array(tokens).fill(0);
    for (let t = 0; t < tokens; t++) for (let d = 0; d < dim; d++) perToken[t] += attribution[t * dim + d];
    const max = Math.max(...perToken.map(Math.abs)); // the L-infinity norm
    return { name: this.name, base: this.words(data), modified: perToken.map((v) => safeDiv(v, max) * 100), type: 'text', contribution: contributionFrac };
  }
}

/** A tabular input [C] with a name per column (category): attributions scaled by their L2 norm. */
export class GeneralFeature {
  readonly kind = 'general';
  constructor(readonly name: string, readonly categories: string[], readonly options: FeatureTransforms = {}) {
    checkName(name, 'GeneralFeature');
    if (!Array.isArray(categories) || !categories.length) throw new Error(`GeneralFeature ${name} needs its categories (column names)`);
  }

  visualize(attribution: ArrayLike<number>, data: ArrayLike<number>, contributionFrac: number): FeatureOutput {
    if (attribution.length !== this.categories.length || data.length !== this.categories.length) {
      throw new Error(`GeneralFeature ${this.name}: ${this.categories.length} categories, ${attribution.length} attributions, ${data.length} values`);
    }
    const norm = Math.hypot(...Array.from(attribution));
    return {
      name: this.name, base: this.categories.map((c, i) => `${c}: ${data[i].toFixed(2)}`),
      modified: Array.from(attribution, (v) => safeDiv(v, norm) * 100), type: 'general', contribution: contributionFrac,
    };
  }
}

export type Feature = ImageFeature | TextFeature | GeneralFeature;

/** Captum's calculate_net_contrib: each feature's attribution sum, divided by the L1 norm of those sums. */
export function netContributions(attributionsPerFeature: ArrayLike<number>[]): number[] {
  const sums = attributionsPerFeature.map((a) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]; return s; });
  const l1 = sums.reduce((t, s) => t + Math.abs(s), 0);
  return sums.map((s) => safeDiv(s, l1));
}

/** torchvision's Normalize(mean, std) as an input transform, per channel of [C, ...] (a table row [C]: per column). */
export function normalizeTransform(mean: readonly number[], std: readonly number[]): Transform {
  return (x) => {
    const C = x.shape[0], per = x.data.length / C, out = new Float32Array(x.data.length);
    if (mean.length !== C || std.length !== C) throw new Error(`normalizeTransform has ${mean.length} means and ${std.length} deviations for ${C} channels`);
    for (let c = 0; c < C; c++) for (let i = 0; i < per; i++) out[c * per + i] = (x.data[c * per + i] - mean[c]) / std[c];
    return { data: out, shape: x.shape };
  };
}

/** The usual baseline: zeros of the transformed input's shape. */
export const zeroBaseline: Transform = (x) => ({ data: new Float32Array(x.data.length), shape: x.shape });

/** Captum's TokenReferenceBase as a baseline transform: every token the reference (pad) index. */
export const tokenReferenceBaseline = (referenceTokenIdx: number): Transform => (x) => ({ data: new Float32Array(x.data.length).fill(referenceTokenIdx), shape: x.shape });
