/**
 * Tables for tabular models: a CSV with a header row (comma-separated, optional double quotes), its
 * feature columns as numbers and an optional label column, checked with one clear message per
 * problem. No Node built-ins (the explorer's page can use it).
 */

export interface Table {
  /** Feature column names, in order. */
  features: string[];
  /** Rows of feature values. */
  rows: Float32Array[];
  /** The label column's values per row (numbers where they parse), or null without one. */
  labels: (number | string)[] | null;
  labelColumn: string | null;
}

function splitLine(line: string): string[] {
  const out: string[] = [];
  let cur = '', quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (c === '"') quoted = false; else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { out.push(cur); cur = ''; } else cur += c;
  }
  out.push(cur);
  return out.map((v) => v.trim());
}

/** Common names of a label column, taken when no --label-column is given and the widths say one is there. */
const LABEL_NAMES = ['target', 'label', 'class', 'y'];

/**
 * Reads a CSV: every column but the label column must hold numbers in every row. `labelColumn` names
 * it; without, a column named target, label, class or y is the label when `width` (the model's
 * number of features) says there is one column too many; `what` names the file in errors.
 */
export function parseCsv(text: string, opts: { what?: string; labelColumn?: string; width?: number } = {}): Table {
  const what = opts.what ?? 'the CSV';
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) throw new Error(`${what} needs a header row and at least one data row`);
  const header = splitLine(lines[0]);
  let label = opts.labelColumn ?? null;
  if (label !== null && !header.includes(label)) throw new Error(`${what} has no column '${label}'; its columns: ${header.join(', ')}`);
  if (label === null && opts.width !== undefined && header.length === opts.width + 1) label = header.find((h) => LABEL_NAMES.includes(h.toLowerCase())) ?? null;
  const at = label === null ? -1 : header.indexOf(label);
  const features = header.filter((_, i) => i !== at);
  if (opts.width !== undefined && features.length !== opts.width) {
    throw new Error(`${what} has ${features.length} feature columns (${features.slice(0, 4).join(', ')}${features.length > 4 ? ', ...' : ''}); the model takes ${opts.width}${label === null ? ' (name the label column with --label-column)' : ''}`);
  }
  const rows: Float32Array[] = [], labels: (number | string)[] = [];
  lines.slice(1).forEach((line, r) => {
    const cells = splitLine(line);
    if (cells.length !== header.length) throw new Error(`${what} row ${r + 1} has ${cells.length} values; the header has ${header.length} columns`);
    const row = new Float32Array(features.length);
    let k = 0;
    cells.forEach((v, i) => {
      if (i === at) { labels.push(v !== '' && Number.isFinite(Number(v)) ? Number(v) : v); return; }
      const x = v === '' ? NaN : Number(v);
      if (!Number.isFinite(x)) throw new Error(`${what} row ${r + 1}, column '${header[i]}': '${v}' is not a number${v === '' ? ' (missing value)' : ''}`);
      row[k++] = x;
    });
    rows.push(row);
  });
  return { features, rows, labels: at < 0 ? null : labels, labelColumn: label };
}

/** Standardization of each feature, (x - mean) / std, from JSON {"mean": [...], "std": [...]}. */
export function parseNormalization(text: string, width: number, what = 'the normalization'): { mean: number[]; std: number[] } {
  let v: { mean?: unknown; std?: unknown };
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} is not JSON: ${(e as Error).message}`);
  }
  for (const k of ['mean', 'std'] as const) {
    const a = v?.[k];
    if (!Array.isArray(a) || a.length !== width || !a.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new Error(`${what} needs "${k}": ${width} numbers, one per feature`);
  }
  if ((v.std as number[]).some((s) => s === 0)) throw new Error(`${what}: a std of 0 divides by zero`);
  return { mean: v.mean as number[], std: v.std as number[] };
}
