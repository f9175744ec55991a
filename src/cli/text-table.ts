// The CLI's text and table inputs: --text with --vocab (token ids, Captum's visualize_text page) and
// --csv --row (one row of features, standardized with --normalize).
import { existsSync, readFileSync } from 'node:fs';
import { type Tensor, noGrad } from '../autograd/index.ts';
import * as ops from '../autograd/ops/index.ts';
import type { HostTensor } from '../io/host-tensor.ts';
import { parseCsv, parseNormalization } from '../io/csv.ts';
import { type Vocabulary, VisualizationDataRecord, encodeText, parseVocabulary, summarizeTokenAttributions, visualizeText } from '../insights/text.ts';
import type { Classifier } from '../nn/model.ts';
import { GraphModel } from '../nn/graph.ts';
import { UsageError, type Parsed } from './args.ts';
export interface TextInput { vocab: Vocabulary; ids: number[]; tokens: string[] }

const INTEGER_TYPES = new Set([2, 3, 4, 5, 6, 7, 12, 13]); // ONNX TensorProto's (u)int8..64

/**
 * The width of the rows an ONNX model takes: token ids [N, L] (an integer input) or features [N, C]
 * (a float one); null when L is not fixed. `flag` names the option in errors.
 */
export function rowInput(model: Classifier, kind: 'tokens' | 'features', flag: string): number | null {
  const input = model.net instanceof GraphModel ? model.net.onnx.inputs[0] : null;
  const what = kind === 'tokens' ? 'L token ids' : 'C features';
  const shape = input ? `[${input.shape?.map((d) => d ?? '?').join(', ')}]` : '';
  if (!input?.shape || input.shape.length !== 2) throw new UsageError(`${flag} needs a --model FILE.onnx that takes [N, ${what}]${input ? `; this one takes ${shape}` : ''}`);
  const ints = INTEGER_TYPES.has(input.elemType);
  if (input.elemType !== 0 && ints !== (kind === 'tokens')) {
    throw new UsageError(`${flag} needs a model of ${kind === 'tokens' ? 'token ids' : 'numeric features'}; this one takes ${ints ? 'integers (token ids: use --text with --vocab)' : 'floats (features: use --csv)'} ${shape}`);
  }
  return typeof input.shape[1] === 'number' ? input.shape[1] : null;
}

export function textInput(a: Parsed): TextInput {
  const file = a.vocab as string;
  if (!existsSync(file)) throw new UsageError(`vocabulary file ${file} does not exist`);
  try {
    const vocab = parseVocabulary(readFileSync(file, 'utf8'), file);
    return { vocab, ...encodeText(a.text as string, vocab) };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The token ids as the model's input [1, L] (exact float32 values), checked against an ONNX model's input. */
export function textTensor(t: TextInput, model: Classifier): HostTensor {
  const L = rowInput(model, 'tokens', '--text');
  if (L !== null && L !== t.ids.length) {
    throw new UsageError(`${(model.net as GraphModel).source} takes [N, ${L}]; the text gives [1, ${t.ids.length}] token ids (check the vocabulary's "length")`);
  }
  if (t.ids.some((i) => i >= t.vocab.vocab.length)) throw new UsageError('a token id is past the vocabulary');
  return { dtype: 'F32', shape: [1, t.ids.length], data: Float32Array.from(t.ids) };
}

/** The embedding of a model of token ids: the layer (Gather) that reads the input; null when there is none. */
export function embeddingLayer(model: Classifier): string | null {
  if (!(model.net instanceof GraphModel)) return null;
  const input = model.net.onnx.inputs[0].name;
  for (const [name, m] of model.net.children) {
    const node = (m as { node?: { opType: string; inputs: string[] } }).node;
    if (node?.opType === 'Gather' && node.inputs.includes(input)) return name;
  }
  return null;
}

/** Captum's visualize_text page for one text: words coloured by their summed, L2-normalized attributions. */
export async function textReport(t: TextInput, model: Classifier, x: Tensor, attr: Tensor, data: Float32Array, target: number | undefined, method: string): Promise<string> {
  const probs = await noGrad(() => ops.softmax(model.net.call(x))).data();
  const pred = probs.indexOf(Math.max(...probs));
  const L = t.ids.length;
  if (attr.size % L !== 0 || attr.shape[1] !== L) throw new UsageError(`--html shows one attribution per token; ${method} gave [${attr.shape.join(', ')}] for ${L} tokens (attribute to the embedding layer, or use occlusion)`);
  const words = summarizeTokenAttributions(data, L, attr.size / L);
  const names = t.vocab.classes ?? model.classes;
  const cls = (i: number) => names[i] ?? String(i);
  const score = data.reduce((s, v) => s + v, 0);
  const record = new VisualizationDataRecord(words, probs[pred], cls(pred), '-', cls(target ?? pred), score, t.tokens);
  return `<!doctype html><meta charset="utf-8"><title>${method}</title><body style="font-family: sans-serif"><h3>${method}</h3>${visualizeText([record])}</body>\n`;
}

/** One row of a CSV as the model's input [1, C], standardized with --normalize; the feature names for the bars. */
export function tableInput(a: Parsed, model: Classifier): { input: HostTensor; features: string[] } {
  const width = rowInput(model, 'features', '--csv');
  if (width === null) throw new UsageError('--csv needs a model whose number of features is fixed ([N, C] with C a number)');
  const file = a.csv as string;
  if (!existsSync(file)) throw new UsageError(`CSV file ${file} does not exist`);
  try {
    const t = parseCsv(readFileSync(file, 'utf8'), { what: file, labelColumn: a['label-column'] as string | undefined, width });
    const row = a.row as number;
    if (!Number.isInteger(row) || row < 0 || row >= t.rows.length) throw new Error(`--row must be 0..${t.rows.length - 1} (${file} has ${t.rows.length} data rows), got ${row}`);
    const x = Float32Array.from(t.rows[row]);
    if (a.normalize) {
      if (!existsSync(a.normalize as string)) throw new Error(`normalization file ${a.normalize} does not exist`);
      const n = parseNormalization(readFileSync(a.normalize as string, 'utf8'), width, a.normalize as string);
      for (let i = 0; i < width; i++) x[i] = (x[i] - n.mean[i]) / n.std[i];
    }
    return { input: { dtype: 'F32', shape: [1, width], data: x }, features: t.features };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
