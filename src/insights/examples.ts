/**
 * The explorer's examples: a dataset value becomes the model's input, its baseline and what a card
 * shows, by its feature's kind and transforms; and a new text or table row sent by a visitor is
 * checked and turned into an example the same way.
 */
import type { HostArray } from '../io/visualize.ts';
import { type Feature, zeroBaseline } from './features.ts';
import { RequestError } from './methods.ts';
import { encodeText } from './text.ts';

export interface Example {
  /** The example's place in the dataset; -1 for an input sent with a request. */
  index: number;
  /** What the card shows: an image in [0, 1] [3, H, W], the token ids [L], a row's values before transforms [C]. */
  shown: HostArray;
  input: HostArray;
  baseline: HostArray;
  label: number | null;
}

/** The shape a dataset batch must have for a feature: [N, C, H, W] images, [N, L] token ids, [N, C] rows. */
export function batchRank(feature: Feature): number {
  return feature.kind === 'image' ? 4 : 2;
}

const shapeText = (s: readonly number[]) => `[${s.join(', ')}]`;

/** One example from its dataset value (no batch dimension); `where` names it in errors. */
export function makeExample(feature: Feature, raw: HostArray, index: number, label: number | null, where: string): Example {
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
  return { index, shown, input, baseline, label };
}

/**
 * An input sent with a request: a text (a string, for a text feature with a vocabulary), or a table
 * row (an object of every category's number, or the numbers in category order). Bad input is a 400.
 */
export function requestExample(feature: Feature, value: unknown, inputShape: readonly number[]): Example {
  const fail = (m: string) => { throw new RequestError(m); };
  let raw: HostArray;
  if (feature.kind === 'text') {
    const vocab = feature.options.vocabulary;
    if (!vocab) fail(`feature ${feature.name} has no vocabulary: the explorer attributes its dataset's texts only`);
    if (typeof value !== 'string') fail(`input must be the text as a string, got ${JSON.stringify(value)?.slice(0, 60)}`);
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
      if (value.length !== cats.length) fail(`input has ${value.length} values; give ${cats.length}, one per category (${cats.join(', ')})`);
      values = value;
    } else if (value && typeof value === 'object') {
      const o = value as Record<string, unknown>;
      const unknown = Object.keys(o).find((k) => !cats.includes(k));
      if (unknown !== undefined) fail(`input has no category '${unknown}'; the categories are ${cats.join(', ')}`);
      const missing = cats.find((c) => o[c] === undefined);
      if (missing !== undefined) fail(`input has no value for '${missing}'; give every category: ${cats.join(', ')}`);
      values = cats.map((c) => o[c]);
    } else {
      values = fail('input must be an object {category: number} or a list of numbers in category order');
    }
    values.forEach((v, i) => { if (typeof v !== 'number' || !Number.isFinite(v)) fail(`input.${cats[i]} must be a finite number, got ${JSON.stringify(v)}`); });
    raw = { data: Float32Array.from(values as number[]), shape: [cats.length] };
  } else {
    return fail('an image comes from the dataset; new inputs are taken for text and table features');
  }
  try {
    return makeExample(feature, raw, -1, null, 'the input');
  } catch (e) {
    return fail((e as Error).message);
  }
}
