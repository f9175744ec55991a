/**
 * The explorer's examples: a dataset value becomes the model's input, its baseline and what a card
 * shows, by its feature's kind and transforms (one part per feature; several parts are packed side by
 * side, as a graph of several inputs takes them); and a new text or table row sent by a visitor is
 * checked and turned into an example the same way.
 */
import type { HostArray } from '../io/visualize.ts';
import { type Feature, zeroBaseline } from './features.ts';
import { RequestError, patchMask } from './methods.ts';
import { encodeText } from './text.ts';

/** One feature's share of an example. */
export interface Part {
  /** What the card shows: an image in [0, 1] [3, H, W], the token ids [L], a row's values before transforms [C]. */
  shown: HostArray;
  input: HostArray;
  baseline: HostArray;
}

export interface Example {
  /** The example's place in the dataset; -1 for an input sent with a request. */
  index: number;
  parts: Part[];
  /** The model's input and baseline without the batch: the one part's, or all parts flattened side by side. */
  input: HostArray;
  baseline: HostArray;
  label: number | null;
}

function pack(arrays: HostArray[]): HostArray {
  if (arrays.length === 1) return arrays[0];
  const out = new Float32Array(arrays.reduce((t, a) => t + a.data.length, 0));
  let at = 0;
  for (const a of arrays) { out.set(Array.from(a.data), at); at += a.data.length; }
  return { data: out, shape: [out.length] };
}

/** An example of one part per feature. */
export function exampleOf(parts: Part[], index: number, label: number | null): Example {
  return { index, parts, input: pack(parts.map((p) => p.input)), baseline: pack(parts.map((p) => p.baseline)), label };
}

/** The shape a dataset batch must have for a feature: [N, C, H, W] images, [N, L] token ids, [N, C] rows. */
export function batchRank(feature: Feature): number {
  return feature.kind === 'image' ? 4 : 2;
}

const shapeText = (s: readonly number[]) => `[${s.join(', ')}]`;

/** One feature's part of an example from its dataset value (no batch dimension); `where` names it in errors. */
export function makePart(feature: Feature, raw: HostArray, where: string): Part {
  if (feature.kind === 'text') {
    const V = feature.options.vocabulary?.vocab.length ?? Infinity;
    for (const id of Array.from(raw.data)) {
      if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new Error(`${where}: token id ${id} is not an index into the vocabulary${V < Infinity ? ` of ${V} tokens` : ''}`);
    }
  }
  if (feature.kind === 'general' && raw.shape[0] !== feature.categories.length) {
    throw new Error(`${where} has ${raw.shape[0]} values; feature ${feature.name} has ${feature.categories.length} categories (${feature.categories.slice(0, 4).join(', ')}${feature.categories.length > 4 ? ', ...' : ''})`);
  }
  let input = raw;
  for (const t of feature.options.inputTransforms ?? []) input = t(input);
  // An image's transforms may resize it; a text's or a row's values map one to one to what the card shows.
  const kept = feature.kind === 'image' ? input.shape.length === 3 : shapeText(input.shape) === shapeText(raw.shape);
  if (!kept) throw new Error(`${where}: the feature's input transforms turned ${shapeText(raw.shape)} into ${shapeText(input.shape)}${feature.kind === 'image' ? '; an image input must be [C, H, W]' : ''}`);
  if (!Array.prototype.every.call(input.data, Number.isFinite)) throw new Error(`${where}'s input holds NaN or infinity (after the feature's transforms); the explorer takes finite inputs only`);
  const baseline = (feature.options.baselineTransforms?.[0] ?? zeroBaseline)(input);
  if (baseline.data.length !== input.data.length) throw new Error(`${where}: the feature's baseline has ${baseline.data.length} values for an input of ${input.data.length}`);
  const shown = feature.kind === 'image' && feature.options.visualizationTransform ? feature.options.visualizationTransform(raw) : raw;
  return { shown, input, baseline };
}

/**
 * An input sent with a request: a text (a string, for a text feature with a vocabulary), or a table
 * row (an object of every category's number, or the numbers in category order); with several
 * features, an object of each feature's by its name. `shapes` are the dataset's parts' input shapes.
 * Bad input is a 400.
 */
export function requestExample(features: Feature[], value: unknown, shapes: readonly (readonly number[])[]): Example {
  if (features.length === 1) return exampleOf([requestPart(features[0], value, shapes[0], 'input')], -1, null);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new RequestError(`input must be an object of each feature's value by name: ${features.map((f) => f.name).join(', ')}`);
  const o = value as Record<string, unknown>;
  const unknown = Object.keys(o).find((k) => !features.some((f) => f.name === k));
  if (unknown !== undefined) throw new RequestError(`input has no feature '${unknown}'; the features are ${features.map((f) => f.name).join(', ')}`);
  return exampleOf(features.map((f, i) => {
    if (o[f.name] === undefined) throw new RequestError(`input has no value for feature '${f.name}'`);
    return requestPart(f, o[f.name], shapes[i], `input.${f.name}`);
  }), -1, null);
}

function requestPart(feature: Feature, value: unknown, inputShape: readonly number[], what: string): Part {
  const fail = (m: string) => { throw new RequestError(m); };
  let raw: HostArray;
  if (feature.kind === 'text') {
    const vocab = feature.options.vocabulary;
    if (!vocab) fail(`feature ${feature.name} has no vocabulary: the explorer attributes its dataset's texts only`);
    if (typeof value !== 'string') fail(`${what} must be the text as a string, got ${JSON.stringify(value)?.slice(0, 60)}`);
    let ids: number[] = [];
    try {
      ids = encodeText(value as string, vocab!).ids;
    } catch (e) {
      fail((e as Error).message);
    }
    if (ids.length !== inputShape[0]) fail(`the text gives ${ids.length} tokens; the model reads ${inputShape[0]} (a vocabulary with "length": ${inputShape[0]} pads to it)`);
    raw = { data: Float32Array.from(ids), shape: [ids.length] };
  } else if (feature.kind === 'general') {
    const cats = feature.categories;
    let values: unknown[];
    if (Array.isArray(value)) {
      if (value.length !== cats.length) fail(`${what} has ${value.length} values; give ${cats.length}, one per category (${cats.join(', ')})`);
      values = value;
    } else if (value && typeof value === 'object') {
      const o = value as Record<string, unknown>;
      const unknown = Object.keys(o).find((k) => !cats.includes(k));
      if (unknown !== undefined) fail(`${what} has no category '${unknown}'; the categories are ${cats.join(', ')}`);
      const missing = cats.find((c) => o[c] === undefined);
      if (missing !== undefined) fail(`${what} has no value for '${missing}'; give every category: ${cats.join(', ')}`);
      values = cats.map((c) => o[c]);
    } else {
      values = fail(`${what} must be an object {category: number} or a list of numbers in category order`);
    }
    values.forEach((v, i) => { if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${what}.${cats[i]} must be a finite number, got ${JSON.stringify(v)}`); });
    raw = { data: Float32Array.from(values as number[]), shape: [cats.length] };
  } else {
    return fail(`${feature.name} is an image, which comes from the dataset; new inputs are taken for text and table features`);
  }
  try {
    return makePart(feature, raw, what);
  } catch (e) {
    return fail((e as Error).message);
  }
}

/**
 * With several features, Feature Ablation's groups over the packed input: a token or a column each,
 * or a 16x16 patch of an image; undefined with one feature (each method's own default).
 */
export function ablationGroups(features: Feature[], shapes: readonly (readonly number[])[]): Int32Array | undefined {
  if (features.length === 1) return undefined;
  const sizes = shapes.map((d) => d.reduce((a, b) => a * b, 1));
  const mask = new Int32Array(sizes.reduce((a, b) => a + b, 0));
  let at = 0, next = 0;
  features.forEach((f, k) => {
    if (f.kind === 'image') {
      const [C, H, W] = shapes[k];
      patchMask(H, W, C, 16).forEach((g, i) => { mask[at + i] = next + g; });
      next += Math.ceil(H / 16) * Math.ceil(W / 16);
    } else {
      for (let i = 0; i < sizes[k]; i++) mask[at + i] = next + i;
      next += sizes[k];
    }
    at += sizes[k];
  });
  return mask;
}
