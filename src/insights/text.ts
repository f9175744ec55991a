/**
 * Text for models that read token ids: a vocabulary format, Captum's tokenizer-side helpers
 * (TokenReferenceBase) and its visualize_text (VisualizationDataRecord, the HTML table with words
 * coloured by attribution). No Node built-ins: the explorer's page uses it too.
 */

/**
 * A vocabulary (JSON): `vocab`, the tokens in index order; `unk` and `pad`, the unknown and padding
 * indices; `length`, the fixed sequence length the model takes (null or absent when any length runs);
 * optionally `classes`, the output classes' names.
 */
export interface Vocabulary {
  vocab: string[];
  unk: number;
  pad: number;
  length: number | null;
  classes?: string[];
}

/** A vocabulary from its JSON text, checked; `what` names the file in errors. */
export function parseVocabulary(text: string, what = 'the vocabulary'): Vocabulary {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} is not JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== 'object' || !Array.isArray(v.vocab) || !v.vocab.every((t) => typeof t === 'string')) {
    throw new Error(`${what} needs "vocab": the tokens in index order, as strings`);
  }
  const n = v.vocab.length;
  for (const key of ['unk', 'pad'] as const) {
    const i = v[key];
    if (i === undefined) throw new Error(`${what} has no "${key}" index (the ${key === 'pad' ? 'padding' : 'unknown-word'} token's index; Captum's token reference baseline needs the pad index)`);
    if (!Number.isInteger(i) || (i as number) < 0 || (i as number) >= n) throw new Error(`${what}: "${key}" must be an index into its ${n} tokens, got ${JSON.stringify(i)}`);
  }
  const length = v.length ?? null;
  if (length !== null && !(Number.isInteger(length) && (length as number) >= 1)) throw new Error(`${what}: "length" must be a positive integer or null, got ${JSON.stringify(length)}`);
  if (v.classes !== undefined && !(Array.isArray(v.classes) && v.classes.every((c) => typeof c === 'string'))) throw new Error(`${what}: "classes" must be a list of names`);
  return { vocab: v.vocab as string[], unk: v.unk as number, pad: v.pad as number, length: length as number | null, classes: v.classes as string[] | undefined };
}

/** Lower case, words (letters and digits, with inner apostrophes: "can't") and each punctuation mark apart. */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*|[^\s\p{L}\p{N}]/gu) ?? [];
}

/** A text as token ids (unknown words to `unk`, padded with `pad` to the fixed length) and the tokens shown for them. */
export function encodeText(text: string, v: Vocabulary): { ids: number[]; tokens: string[] } {
  const words = tokenize(text);
  if (!words.length) throw new Error('the text is empty: give at least one word');
  if (v.length !== null && words.length > v.length) throw new Error(`the text has ${words.length} tokens; the model reads at most ${v.length} (shorten it)`);
  const index = new Map(v.vocab.map((t, i) => [t, i]));
  const ids = words.map((w) => index.get(w) ?? v.unk);
  const tokens = words.map((w, i) => (ids[i] === v.unk ? v.vocab[v.unk] : w));
  while (v.length !== null && ids.length < v.length) {
    ids.push(v.pad);
    tokens.push(v.vocab[v.pad]);
  }
  return { ids, tokens };
}

/** Captum's TokenReferenceBase: a reference (baseline) sequence of the reference token, usually the pad index. */
export class TokenReferenceBase {
  constructor(readonly referenceTokenIdx = 0) {}
  generateReference(sequenceLength: number): number[] {
    return new Array(sequenceLength).fill(this.referenceTokenIdx);
  }
}

/** Captum's VisualizationDataRecord: one row of visualizeText. */
export class VisualizationDataRecord {
  constructor(
    readonly wordAttributions: ArrayLike<number>,
    readonly predProb: number,
    readonly predClass: string | number,
    readonly trueClass: string | number,
    readonly attrClass: string | number,
    readonly attrScore: number,
    readonly rawInputIds: string[],
    readonly convergenceScore: number | null = null,
  ) {}
}

/** Captum's colour for an attribution in [-1, 1]: green for positive, red for negative, lighter near zero. */
export function attributionColor(attr: number): string {
  const a = Math.max(-1, Math.min(1, attr));
  return a > 0 ? `hsl(120, 75%, ${100 - Math.trunc(50 * a)}%)` : `hsl(0, 75%, ${100 - Math.trunc(-40 * a)}%)`;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const classCell = (c: string | number) => `<td><text style="padding-right:2em"><b>${escapeHtml(String(c))}</b></text></td>`;
/** Captum shows <unk>-style special tokens as #unk. */
const shownToken = (t: string) => (t.startsWith('<') && t.endsWith('>') ? `#${t.replace(/^<+|>+$/g, '')}` : t);

/**
 * Captum's visualize_text as an HTML string: a table of true, predicted (with its probability) and
 * attributed class, the attribution score, and the words marked by their attributions (expected in
 * [-1, 1], as Captum's tutorial scales them), with a legend.
 */
export function visualizeText(records: Iterable<VisualizationDataRecord>, legend = true): string {
  const dom = ['<table width: 100%>'];
  const rows = ['<tr><th>True Label</th><th>Predicted Label</th><th>Attribution Label</th><th>Attribution Score</th><th>Word Importance</th>'];
  for (const r of records) {
    if (r.rawInputIds.length > r.wordAttributions.length) throw new Error(`visualizeText: ${r.rawInputIds.length} words but ${r.wordAttributions.length} attributions`);
    const words = r.rawInputIds.map((w, i) => `<mark style="background-color: ${attributionColor(r.wordAttributions[i])}; opacity:1.0; line-height:1.75"><font color="black"> ${escapeHtml(shownToken(w))} </font></mark>`);
    rows.push(['<tr>', classCell(r.trueClass), classCell(`${r.predClass} (${r.predProb.toFixed(2)})`), classCell(r.attrClass), classCell(r.attrScore.toFixed(2)),
      words.length ? `<td>${words.join('')}</td>` : '<td></td>', '<tr>'].join(''));
  }
  if (legend) {
    dom.push('<div style="border-top: 1px solid; margin-top: 5px; padding-top: 5px; display: inline-block"><b>Legend: </b>');
    for (const [value, label] of [[-1, 'Negative'], [0, 'Neutral'], [1, 'Positive']] as const) {
      dom.push(`<span style="display: inline-block; width: 10px; height: 10px; border: 1px solid; background-color: ${attributionColor(value)}"></span> ${label}  `);
    }
    dom.push('</div>');
  }
  dom.push(rows.join(''), '</table>');
  return dom.join('');
}

/**
 * Captum's tutorial summary of token attributions [L, D]: summed over the embedding dimension, then
 * divided by the L2 norm over the tokens (so the colours fall in [-1, 1]).
 */
export function summarizeTokenAttributions(attr: ArrayLike<number>, tokens: number, dim: number): Float64Array {
  const sums = new Float64Array(tokens);
  for (let t = 0; t < tokens; t++) for (let d = 0; d < dim; d++) sums[t] += attr[t * dim + d];
  const norm = Math.hypot(...sums);
  return norm > 0 ? sums.map((v) => v / norm) : sums;
}
