// Attribution over a folder of images: every PNG and JPEG under --images DIR (or the paths of --list),
// one OUT/<relative path>.safetensors each, written under a temporary name and renamed, so a run
// killed at any moment leaves whole files; a rerun skips what is done (same input bytes, method and
// options) and rebuilds OUT/index.jsonl. --shard I/N takes a stable 1/N of the inputs, so that
// processes and machines (a Kubernetes Indexed Job, a Slurm array) share one OUT.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, openSync, readSync, closeSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { type Tensor, fromArray, noGrad, tidy } from '../autograd/index.ts';
import * as ops from '../autograd/ops/index.ts';
import * as A from '../attr/index.ts';
import { noisyCopies } from '../attr/noise.ts';
import type { GpuContext } from '../gpu/device.ts';
import { decodeImage, encodePng } from '../io/image-decode.ts';
import { normalizedInput, preprocessImage } from '../io/image.ts';
import { type VisualizeMethod, type VisualizeSign, visualizeImageAttr } from '../io/visualize.ts';
import { serializeSafetensors } from '../io/safetensors.ts';
import type { Classifier } from '../nn/model.ts';
import type { HostArray } from '../io/visualize.ts';
import type { GeneralFeature } from '../insights/features.ts';
import { tableData, textLines } from './insights-data.ts';
import { UsageError, type Parsed } from './args.ts';

const IMAGE = /\.(png|jpe?g)$/i;
export const METRICS = ['infidelity', 'sensitivity-max', 'deletion', 'insertion'] as const;
type Metric = (typeof METRICS)[number];

/** What one input's attribution needs: the method as the single-image path runs it. */
export type Compute = (model: Classifier, x: Tensor, target: number[], onProgress: (done: number, total: number) => void) => Promise<Tensor | [Tensor, Tensor]>;

/** The inputs of a batch run, relative to their root, sorted. */
export function listInputs(a: Parsed): { root: string; files: string[] } {
  if (a.images) {
    const root = resolve(a.images as string);
    if (!existsSync(root) || !statSync(root).isDirectory()) throw new UsageError(`--images ${a.images} is not a folder`);
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true }).sort((p, q) => (p.name < q.name ? -1 : 1))) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (IMAGE.test(e.name)) files.push(relative(root, join(dir, e.name)));
      }
    };
    walk(root);
    return { root, files: files.sort() };
  }
  const list = a.list as string;
  if (!existsSync(list)) throw new UsageError(`--list ${list} does not exist`);
  const root = dirname(resolve(list));
  const files = readFileSync(list, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const f of files) if (f.split(/[\\/]/).includes('..')) throw new UsageError(`--list ${list}: '${f}' leaves the list's folder; give paths below it`);
  return { root, files: [...new Set(files)].sort() };
}

/** One input for the model: its input, its label, and for an image what figures draw over. */
interface Item { input: Float32Array; label: number | null; shown: Float32Array | null }

/**
 * The inputs of a batch run: their names (output paths under OUT) and how each is read: its identity
 * for resuming at once, the rest (an image's decoding) only when it is not done yet.
 */
interface Source { ids: string[]; what: string; dims: number[]; read(id: string): { digest: string; load(): Item } }

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

function imageSource(a: Parsed, model: Classifier): Source {
  const { root, files } = listInputs(a);
  if (!files.length) throw new UsageError(`no .png or .jpg inputs in ${a.images ?? a.list}`);
  const p = model.card.preprocessing;
  return {
    ids: files, what: 'images', dims: [3, p.crop, p.crop],
    read(file) {
      const bytes = readFileSync(join(root, file));
      return {
        digest: sha256(bytes),
        load() {
          const shown = preprocessImage(decodeImage(new Uint8Array(bytes), file), p);
          return { input: normalizedInput(shown, p), label: null, shown: a.viz === undefined ? null : shown };
        },
      };
    },
  };
}

/**
 * Every line of a text file (LABEL<TAB>text optional): line-N, N from 1; the baseline is all pad. Lines
 * are encoded one by one, so a bad one (a wrong length, an unknown label) is recorded as a failure.
 */
function textSource(a: Parsed, model: Classifier): Source {
  const t = textLines({ textFile: a['text-file'] as string, vocab: a.vocab as string, model });
  if (a.baselines === undefined) a.baselines = t.vocab.pad;
  // Texts share passes, so they share a length: the model's, the vocabulary's, or the first good line's.
  let L = t.width ?? t.vocab.length;
  if (L === null) for (const l of t.lines) { try { L = t.line(l, null).ids.length; break; } catch { /* recorded when read */ } }
  const ids = t.lines.map((l) => `line-${l.n}`), vocabText = readFileSync(a.vocab as string);
  const lineOf = new Map(ids.map((id, k) => [id, t.lines[k]]));
  return {
    ids, what: 'texts', dims: [L ?? 1],
    read(id) {
      const l = lineOf.get(id)!;
      return {
        digest: sha256(`${l.text}\n${vocabText}`),
        load() {
          const e = t.line(l, L);
          return { input: Float32Array.from(e.ids), label: e.label, shown: null };
        },
      };
    },
  };
}

/** Every row of a CSV: row-N, N from 0 (as --row counts), standardized with --normalize. */
function tableSource(a: Parsed, model: Classifier): Source {
  const data = tableData({ csv: a.csv as string, model, labelColumn: a['label-column'] as string | undefined, normalize: a.normalize as string | undefined });
  const feature = data.feature as GeneralFeature, batch = data.dataset[0], C = feature.categories.length;
  const raw = (batch.inputs as HostArray).data;
  const norm = a.normalize ? readFileSync(a.normalize as string, 'utf8') : '';
  const ids = Array.from({ length: (batch.inputs as HostArray).shape[0] }, (_, i) => `row-${i}`);
  return {
    ids, what: 'rows', dims: [C],
    read(id) {
      const k = Number(id.slice('row-'.length)), values = Float32Array.from({ length: C }, (_, i) => raw[k * C + i]);
      let row: HostArray = { data: values, shape: [C] };
      for (const t of feature.options.inputTransforms ?? []) row = t(row);
      const item = { input: Float32Array.from(row.data), label: batch.labels?.[k] ?? null, shown: null };
      return { digest: sha256(`${Array.from(values).join(',')}\n${norm}`), load: () => item };
    },
  };
}

/** --shard I/N, or auto from a Kubernetes Indexed Job or a Slurm array; null for all inputs. */
export function parseShard(a: Parsed, env: NodeJS.ProcessEnv = process.env): { index: number; count: number } | null {
  const s = a.shard as string | undefined;
  if (s === undefined) return null;
  let index: number, count: number;
  if (s === 'auto') {
    const k8s = env.JOB_COMPLETION_INDEX, slurm = env.SLURM_ARRAY_TASK_ID;
    if (k8s === undefined && slurm === undefined) throw new UsageError('--shard auto reads JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (a Slurm array); neither is set');
    index = Number(k8s ?? slurm);
    const n = a.shards ?? (k8s !== undefined ? undefined : env.SLURM_ARRAY_TASK_COUNT);
    if (n === undefined) throw new UsageError('--shard auto in a Kubernetes Indexed Job needs --shards N (the Job\'s completions)');
    count = Number(n);
    // A Slurm array may start at 1 (--array=1-N): its minimum says so.
    if (k8s === undefined && env.SLURM_ARRAY_TASK_MIN !== undefined) index -= Number(env.SLURM_ARRAY_TASK_MIN);
  } else {
    const m = /^(\d+)\/(\d+)$/.exec(s);
    if (!m) throw new UsageError(`--shard must be I/N (0 <= I < N) or auto, got '${s}'`);
    [index, count] = [Number(m[1]), Number(m[2])];
  }
  if (!(Number.isInteger(count) && count >= 1 && Number.isInteger(index) && index >= 0 && index < count)) throw new UsageError(`--shard: index ${index} of ${count} shards is out of range (0 <= I < N)`);
  return { index, count };
}

/** The shard an input belongs to: by a hash of its relative path, so reordering the folder changes nothing. */
export function shardOf(file: string, count: number): number {
  return createHash('sha256').update(file.replaceAll('\\', '/')).digest().readUInt32BE(0) % count;
}

/** What makes two runs' outputs the same: the method and its options, as JSON with sorted keys. */
export function runKey(method: string, a: Parsed): string {
  // How the work is split does not change the outputs: images sharing a pass give a single run's numbers.
  const skip = new Set(['images', 'list', 'out', 'shard', 'shards', 'force', 'autotune', 'images-per-pass']);
  return JSON.stringify({ method, ...Object.fromEntries(Object.entries(a).filter(([k, v]) => !skip.has(k) && v !== undefined).sort(([p], [q]) => (p < q ? -1 : 1))) });
}

/** The metadata of a safetensors file, read from its header alone; null when it is not a whole file. */
function readMetadata(path: string): Record<string, string> | null {
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(8);
    if (readSync(fd, head, 0, 8, 0) !== 8) return null;
    const n = Number(head.readBigUInt64LE(0));
    const size = statSync(path).size;
    if (n > size - 8 || n > 1 << 26) return null;
    const json = Buffer.alloc(n);
    readSync(fd, json, 0, n, 8);
    const h = JSON.parse(json.toString('utf8'));
    const ends = Object.entries(h).filter(([k]) => k !== '__metadata__').map(([, v]) => (v as { data_offsets: number[] }).data_offsets[1]);
    if (8 + n + Math.max(0, ...ends) !== size) return null;
    return h.__metadata__ ?? {};
  } catch {
    return null;
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** Writes a file under a temporary name and renames it: readers see the old file or the whole new one. */
function writeAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

const outputOf = (out: string, file: string) => join(out, `${file}.safetensors`);
const failureOf = (out: string, file: string) => join(out, `${file}.failed.json`);

/** One input's line of index.jsonl: from its output's metadata, or its recorded failure. */
function indexLine(out: string, file: string): Record<string, unknown> | null {
  const meta = readMetadata(outputOf(out, file));
  if (meta?.record) return JSON.parse(meta.record);
  const failed = failureOf(out, file);
  if (existsSync(failed)) {
    try { return JSON.parse(readFileSync(failed, 'utf8')); } catch { return null; }
  }
  return null;
}

/**
 * `glimpse index OUT`: index.jsonl from every input the run lists (OUT/run.json); the counts of
 * attributed and failed inputs, and those with neither an output nor a recorded failure.
 */
export function writeIndex(out: string): { done: number; failed: number; missing: string[] } {
  const runFile = join(out, 'run.json');
  if (!existsSync(runFile)) throw new UsageError(`${out} has no run.json: it is not the --out of a batch run`);
  const run = JSON.parse(readFileSync(runFile, 'utf8')) as { inputs: string[] };
  const lines: string[] = [], missing: string[] = [];
  let failed = 0;
  for (const file of run.inputs) {
    const line = indexLine(out, file);
    if (!line) { missing.push(file); continue; }
    if (line.error) failed++;
    lines.push(JSON.stringify(line));
  }
  writeAtomic(join(out, 'index.jsonl'), lines.length ? `${lines.join('\n')}\n` : '');
  return { done: lines.length - failed, failed, missing };
}

/** Class per input: a number, each input's label (from --labels, by relative path or file name), or its top-1. */
function targetRule(a: Parsed, classes: string[]): (file: string, top1: number, label?: number | null) => number {
  const t = a.target === undefined ? 'top1' : String(a.target);
  if (t === 'top1') return (_f, top1) => top1;
  if (t === 'label' && !a.images && !a.list) {
    // A text file's labels are its LABEL<TAB> prefixes, a CSV's its label column.
    return (file, _top1, label) => {
      if (label === null || label === undefined) throw new Error(`${file} has no label (--target label)`);
      return label;
    };
  }
  if (t === 'label') {
    if (!a.labels) throw new UsageError('--target label needs --labels labels.json (file names to class indices or names)');
    let map: Record<string, unknown>;
    try { map = JSON.parse(readFileSync(a.labels as string, 'utf8')); } catch (e) { throw new UsageError(`cannot read --labels ${a.labels}: ${(e as Error).message}`); }
    return (file) => {
      const v = map[file.replaceAll('\\', '/')] ?? map[file.split(/[\\/]/).pop()!];
      const i = typeof v === 'string' ? classes.indexOf(v) : v;
      if (!(typeof i === 'number' && Number.isInteger(i) && i >= 0 && i < classes.length)) throw new Error(`--labels has no class for ${file}${v === undefined ? '' : ` (${JSON.stringify(v)})`}`);
      return i;
    };
  }
  const n = Number(t);
  if (!/^\d+$/.test(t) || n >= classes.length) throw new UsageError(`--target must be a class index 0..${classes.length - 1}, label or top1; got '${t}'`);
  return () => n;
}

/** Seeded N(0, 0.003^2) noise, as Captum's tutorial perturbs for infidelity: (noise, x - noise). */
function infidelityPerturb(seed: number): A.InfidelityPerturbFunc {
  return (xs) => {
    const I = ops.sub(noisyCopies(xs, 1, 0, 0.003, seed), xs);
    return [I, ops.sub(xs, I)];
  };
}

interface Pending extends Item { file: string; digest: string }

export interface BatchSummary { done: number; skipped: number; failed: number; seconds: number }

/** Runs the batch: the inputs of this shard not done yet, then the index. */
export async function attributeBatch(a: Parsed, method: string, ctx: GpuContext, model: Classifier, compute: Compute): Promise<BatchSummary> {
  const out = resolve(a.out as string);
  const source = a['text-file'] ? textSource(a, model) : a.csv ? tableSource(a, model) : imageSource(a, model);
  const metrics = a.metrics === undefined ? [] : String(a.metrics).split(',').map((m) => m.trim()) as Metric[];
  if (source.what !== 'images') {
    if (a.viz !== undefined) throw new UsageError(`--viz draws images; a batch of ${source.what} writes the attributions only`);
    const pixels = metrics.filter((m) => m === 'deletion' || m === 'insertion' || (source.what === 'texts' && (m as string) !== ''));
    if (pixels.length) throw new UsageError(`--metrics ${pixels.join(',')} ${source.what === 'texts' ? 'perturb the input continuously, which token ids are not' : 'rank pixels'}: not for ${source.what}`);
  }
  const all = source.ids;
  if (!all.length) throw new UsageError(`no inputs in ${a.images ?? a.list ?? a['text-file'] ?? a.csv}`);
  const shard = parseShard(a);
  const files = shard ? all.filter((f) => shardOf(f, shard.count) === shard.index) : all;
  for (const m of metrics) if (!METRICS.includes(m)) throw new UsageError(`--metrics takes ${METRICS.join(', ')}; got '${m}'`);
  const target = targetRule(a, model.classes);
  const key = runKey(method, a);
  mkdirSync(out, { recursive: true });
  const runFile = join(out, 'run.json');
  const run = JSON.stringify({ key, inputs: all }, null, 1);
  if (existsSync(runFile) && JSON.parse(readFileSync(runFile, 'utf8')).key !== key && !a.force) {
    throw new UsageError(`${out} holds a run of other options (${JSON.parse(readFileSync(runFile, 'utf8')).key}); give another --out, or --force to recompute`);
  }
  writeAtomic(runFile, run);
  const t0 = performance.now();
  const summary: BatchSummary = { done: 0, skipped: 0, failed: 0, seconds: 0 };
  const metricSums = new Map<string, { sum: number; n: number }>();
  const tty = !!process.stderr.isTTY;
  // --viz: a figure beside each output, as --png draws one for a single image.
  const figures = a.viz === undefined ? null : {
    method: a.viz as VisualizeMethod, sign: (a.sign as VisualizeSign | undefined) ?? 'absolute_value', outlierPerc: a['outlier-perc'] as number | undefined,
    showColorbar: a.viz === 'heat_map' || a.viz === 'blended_heat_map',
  };
  const perPass = a['images-per-pass'] === undefined ? 1 : Number(a['images-per-pass']);
  if (!Number.isInteger(perPass) || perPass < 1 || perPass > 256) throw new UsageError(`--images-per-pass must be an integer 1..256, got ${a['images-per-pass']}`);
  const progress = (i: number) => {
    const elapsed = (performance.now() - t0) / 1000, n = summary.done + summary.failed;
    if (tty) process.stderr.write(`\r${method}: ${i}/${files.length} (${(n / elapsed).toFixed(2)} images/s, ETA ${((files.length - i) * elapsed / Math.max(1, n)).toFixed(0)} s) `);
  };
  const fail = (file: string, e: unknown) => {
    summary.failed++;
    writeAtomic(failureOf(out, file), JSON.stringify({ file, error: (e as Error).message }));
    console.warn(`glimpse: ${file}: ${(e as Error).message}`);
  };
  /** Images that share the method's passes: one batch [B, 3, S, S], then each written on its own. */
  const runGroup = async (group: Pending[]) => {
    const started = performance.now();
    try {
      const records = await tidy(async () => {
        const B = group.length, per = source.dims.reduce((p, d) => p * d, 1), data = new Float32Array(B * per);
        group.forEach((g, k) => data.set(g.input, k * per));
        const x = fromArray(ctx, data, [B, ...source.dims]);
        const probs = await noGrad(() => ops.softmax(model.net.call(x))).data();
        const K = probs.length / B;
        const tops = group.map((_, k) => { const row = probs.subarray(k * K, (k + 1) * K); return row.indexOf(Math.max(...row)); });
        const targets = group.map((g, k) => target(g.file, tops[k], g.label));
        const result = await compute(model, x, targets, () => {});
        const [attr, delta] = Array.isArray(result) ? result : [result, null];
        const deltas = delta ? await delta.data() : null;
        const seconds = Number(((performance.now() - started) / 1000 / B).toFixed(3));
        const scoresOf: Record<string, number>[] = [];
        for (const [k, g] of group.entries()) {
          const xk = ops.sliceBatch(x, k, k + 1), ak = ops.sliceBatch(attr, k, k + 1);
          const scores: Record<string, number> = {};
          for (const m of metrics) scores[m] = await metric(m, model, xk, ak, targets[k], compute);
          const record = {
            file: g.file, target: targets[k], predicted: tops[k], score: probs[k * K + tops[k]], method, arguments: JSON.parse(key),
            delta: deltas ? deltas[k] : null, metrics: scores, seconds,
          };
          const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = { attributions: { dtype: 'F32', shape: [...ak.shape], data: await ak.data() } };
          if (deltas) tensors.delta = { dtype: 'F32', shape: [1], data: Float32Array.of(deltas[k]) };
          if (figures) writeAtomic(join(out, `${g.file}.png`), encodePng(visualizeImageAttr({ data: tensors.attributions.data, shape: [...ak.shape] }, { data: g.shown!, shape: source.dims }, { ...figures, title: `${method} (class ${targets[k]})` })));
          writeAtomic(outputOf(out, g.file), serializeSafetensors(tensors, { key, input: g.digest, record: JSON.stringify(record) }));
          rmSync(failureOf(out, g.file), { force: true }); // an earlier failure of this input no longer holds
          scoresOf.push(scores);
        }
        return scoresOf;
      });
      for (const scores of records) {
        for (const [m, v] of Object.entries(scores)) {
          const t = metricSums.get(m) ?? { sum: 0, n: 0 };
          metricSums.set(m, { sum: t.sum + v, n: t.n + 1 });
        }
        summary.done++;
      }
    } catch (e) {
      for (const g of group) fail(g.file, e);
    }
  };
  let group: Pending[] = [];
  for (const [i, file] of files.entries()) {
    try {
      const { digest, load } = source.read(file);
      const meta = readMetadata(outputOf(out, file));
      if (!a.force && meta && meta.key === key && meta.input === digest) summary.skipped++;
      else group.push({ file, digest, ...load() });
    } catch (e) {
      fail(file, e);
    }
    if (group.length === perPass || i === files.length - 1) {
      if (group.length) await runGroup(group);
      group = [];
      progress(i + 1);
    }
  }
  if (group.length) await runGroup(group);
  if (tty) process.stderr.write('\n');
  summary.seconds = (performance.now() - t0) / 1000;
  const index = writeIndex(out);
  const means = [...metricSums].map(([m, s]) => `${m} ${(s.sum / s.n).toPrecision(4)}`).join(', ');
  console.log(`${method}: ${summary.done} attributed, ${summary.skipped} already done, ${summary.failed} failed${shard ? ` (shard ${shard.index}/${shard.count}: ${files.length} of ${all.length} inputs)` : ''} in ${summary.seconds.toFixed(1)} s${means ? `; mean ${means}` : ''}`);
  console.log(`wrote ${join(out, 'index.jsonl')} (${index.done + index.failed} of ${all.length} inputs${index.missing.length ? `; ${index.missing.length} not done yet` : ''})`);
  return summary;
}

/** One metric of an attribution: Captum's infidelity and sensitivity-max, RISE's deletion and insertion AUCs. */
async function metric(m: Metric, model: Classifier, x: Tensor, attr: Tensor, target: number, compute: Compute): Promise<number> {
  if (m === 'infidelity') return (await A.infidelity(model.net, infidelityPerturb(0), x, attr, { target, nPerturbSamples: 10 }))[0];
  if (m === 'sensitivity-max') return (await A.sensitivityMax(async (xs, o) => {
    const r = await compute(model, xs, o.target as number[], () => {});
    return Array.isArray(r) ? r[0] : r;
  }, x, { target: [target], nPerturbSamples: 10 }))[0];
  if (attr.shape.join() !== x.shape.join()) throw new Error(`${m} ranks the input's pixels: the attributions [${attr.shape.join(', ')}] must have the input's shape (add --interpolate)`);
  return (await (m === 'deletion' ? A.deletion : A.insertion)(model.net, x, attr, { target })).auc[0];
}
