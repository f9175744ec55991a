// The explorer's datasets from files: a text file of sentences with a vocabulary (TextFeature), a CSV
// of rows (GeneralFeature, standardized with a mean/std file), each with the model's classes. Tests
// build their explorers with these too.
import { existsSync, readFileSync } from 'node:fs';
import { parseCsv, parseNormalization } from '../io/csv.ts';
import { GeneralFeature, TextFeature, normalizeTransform, tokenReferenceBaseline } from '../insights/features.ts';
import { encodeText, parseVocabulary } from '../insights/text.ts';
import type { Batch } from '../insights/visualizer.ts';
import type { Classifier } from '../nn/model.ts';
import { UsageError } from './args.ts';
import { rowInput } from './text-table.ts';

export interface ExplorerData {
  feature: TextFeature | GeneralFeature;
  dataset: Batch[];
  classes: string[];
}

function read(file: string, what: string): string {
  if (!existsSync(file)) throw new UsageError(`${what} ${file} does not exist`);
  return readFileSync(file, 'utf8');
}

/** A class given as a name or an index, as a class index. */
function classIndex(label: number | string, classes: string[], where: string): number {
  const i = typeof label === 'number' ? label : classes.indexOf(label);
  if (!(Number.isInteger(i) && i >= 0 && i < classes.length)) {
    throw new UsageError(`${where}: label ${JSON.stringify(label)} is neither a class index 0..${classes.length - 1} nor a class name (${classes.slice(0, 5).join(', ')}${classes.length > 5 ? ', ...' : ''}); name the classes with --classes`);
  }
  return i;
}

/**
 * A text file's reader: its vocabulary, classes and the width the model reads, and `line` to encode one
 * line (optionally LABEL<TAB>text) as token ids and a class index, throwing a one-line UsageError for
 * a bad one. Batch runs encode line by line, so that one bad line is recorded and the rest go on.
 */
export function textLines(opts: { textFile: string; vocab: string; model: Classifier; classes?: string[] }) {
  let vocab;
  try {
    vocab = parseVocabulary(read(opts.vocab, 'vocabulary file'), opts.vocab);
  } catch (e) {
    throw e instanceof UsageError ? e : new UsageError((e as Error).message);
  }
  const width = rowInput(opts.model, 'tokens', '--text-file');
  const classes = opts.classes ?? vocab.classes ?? opts.model.classes;
  const lines = read(opts.textFile, 'text file').split(/\r?\n/).map((text, i) => ({ n: i + 1, text })).filter((l) => l.text.trim());
  const line = (l: { n: number; text: string }, length: number | null): { ids: number[]; label: number | null } => {
    const where = `${opts.textFile} line ${l.n}`;
    const tab = l.text.indexOf('\t');
    const label = tab < 0 ? null : l.text.slice(0, tab).trim();
    let enc;
    try {
      enc = encodeText(tab < 0 ? l.text : l.text.slice(tab + 1), vocab);
    } catch (e) {
      throw new UsageError(`${where}: ${(e as Error).message}`);
    }
    if (width !== null && enc.ids.length !== width) throw new UsageError(`${where} gives ${enc.ids.length} tokens; the model reads ${width} (give the vocabulary "length": ${width} to pad every text to it)`);
    if (length !== null && enc.ids.length !== length) throw new UsageError(`${where} gives ${enc.ids.length} tokens, the first text ${length}: give the vocabulary a fixed "length" so that texts batch`);
    return { ids: enc.ids, label: label === null || label === '' ? null : classIndex(/^\d+$/.test(label) ? Number(label) : label, classes, where) };
  };
  const feature = new TextFeature('Text', { vocabulary: vocab, baselineTransforms: [tokenReferenceBaseline(vocab.pad)] });
  return { vocab, classes, width, lines, line, feature };
}

/**
 * One text per line of `textFile`, optionally after its label and a tab ("positive<TAB>a fine film");
 * blank lines are skipped. The baseline is every token the pad index (Captum's TokenReferenceBase).
 */
export function textData(opts: { textFile: string; vocab: string; model: Classifier; classes?: string[] }): ExplorerData {
  const t = textLines(opts);
  if (!t.lines.length) throw new UsageError(`${opts.textFile} holds no text: one text per line`);
  const ids: number[] = [], labels: (number | null)[] = [];
  let L: number | null = null;
  for (const l of t.lines) {
    const e = t.line(l, L);
    L = e.ids.length;
    ids.push(...e.ids);
    labels.push(e.label);
  }
  return { feature: t.feature, classes: t.classes, dataset: [{ inputs: { data: Float32Array.from(ids), shape: [labels.length, L!] }, labels }] };
}

/** The rows of a CSV with a header; standardized by `normalize` ({"mean": [...], "std": [...]}) when given. */
export function tableData(opts: { csv: string; model: Classifier; labelColumn?: string; normalize?: string; classes?: string[] }): ExplorerData {
  const width = rowInput(opts.model, 'features', '--csv');
  const classes = opts.classes ?? opts.model.classes;
  try {
    const t = parseCsv(read(opts.csv, 'CSV file'), { what: opts.csv, labelColumn: opts.labelColumn, width: width ?? undefined });
    const n = opts.normalize ? parseNormalization(read(opts.normalize, 'normalization file'), t.features.length, opts.normalize) : null;
    const feature = new GeneralFeature('Features', t.features, n ? { inputTransforms: [normalizeTransform(n.mean, n.std)] } : {});
    const data = new Float32Array(t.rows.length * t.features.length);
    t.rows.forEach((r, i) => data.set(r, i * t.features.length));
    const labels = t.labels?.map((l, i) => classIndex(l, classes, `${opts.csv} row ${i + 1}, column '${t.labelColumn}'`)) ?? null;
    return { feature, classes, dataset: [{ inputs: { data, shape: [t.rows.length, t.features.length] }, labels }] };
  } catch (e) {
    throw e instanceof UsageError ? e : new UsageError((e as Error).message);
  }
}
