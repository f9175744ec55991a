// npm run bench [-- --quick] [--runs N] [--only TEXT[,TEXT]] [--ig-steps N[,N]] [--winograd off|0|2|4|F,GI,GW]
//                 [--peak-gflops N] [--precision f32|f16|F,GI] [--autotune] [--device] [--json] [--profile]
// The whole suite: IG (50 steps, or each of --ig-steps), Occlusion (3x15x15 / 3x8x8), Grad-CAM and Saliency on ResNet-18 and
// the pretrained ResNet-50 at 224, IG, Occlusion and Grad-CAM on MobileNetV2 (../shared/ref/models' ONNX file) at 224,
// IG and Grad-CAM of ResNet-50 over a dataset of 16 images (images per second, pool bytes across them),
// and the conv kernels' means over ResNet-18's shapes at batch 16.
// Each case runs alternately on the engine and on a plain-PyTorch reference (bench/reference/, started
// in this invocation when /usr/bin/python3 has torch); times are medians. Errors are against
// ../shared/ref (Captum), or against the PyTorch reference where shared/ref has no such output.
// Writes bench/results/bench.json (rows) and bench/README.md (the latest table, with the machine): a CPU
// adapter's run (lavapipe) writes its main part, a GPU's run its section "On a real GPU", each keeping
// the others (bench:peers writes its own section, and its rows of bench.json stay). --peak-gflops (the
// adapter's FP32 peak) adds each case's share of it. --autotune times the convolution tiles of each
// model (and of the kernel rows) in this run before timing its cases.
// --precision f16 runs the convolutions' f16 path (convSettings.precision; F,GI: forward's and input
// gradient's, each f32 or f16) and writes its own section of bench/README.md, "f16 path", so that its
// errors and times stand beside the f32 run's.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as A from '../src/attr/index.ts';
import { type Tensor, type TuneChoice, convSettings, describeChoice, fromArray, parsePrecision, parseWinograd, tidy, tuneConv, winograd } from '../src/autograd/index.ts';
import { tuneModel } from '../src/nn/tune.ts';
import { createNodeGpu } from '../src/io/node-gpu.ts';
import { loadClassifier, loadOnnxClassifier } from '../src/io/models.ts';
import { resnet50Path } from '../src/io/pretrained.ts';
import { parseSafetensors } from '../src/io/safetensors.ts';
import type { Module } from '../src/nn/module.ts';
import type { GraphModel } from '../src/nn/graph.ts';
import type { ResNet } from '../src/nn/resnet.ts';
import { relL2Error, relMaxError } from '../test/helpers.ts';
import { REF_DIR, ref, refTensors, resnet18Seed0 } from '../test/refdata.ts';
import { CONV_KERNELS, RESNET18_CONV_SHAPES, convRows, resnet18ConvGeometries } from './conv-cases.ts';
import { multiplyAddCeiling } from './ceiling.ts';
import { type DepthwiseRow, depthwiseRows } from './depthwise.ts';
import { graphLayerFlops, layerFlops, passFlops } from './flops.ts';
import { type ReferenceWorker, startReference } from './reference.ts';
import { README_SECTIONS, table, writeBenchRows, writeReadmePart, writeResult } from './util.ts';

const argv = process.argv.slice(2);
const flag = (f: string) => argv.includes(f);
const value = (f: string) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : undefined);
const VALUED = ['--runs', '--only', '--ig-steps', '--winograd', '--peak-gflops', '--precision'];
const known = new Set(['--quick', '--device', '--json', '--profile', '--autotune', ...VALUED]);
for (const [i, a] of argv.entries()) {
  if (a.startsWith('--') && !known.has(a)) throw new Error(`bench: unknown option ${a}; options: ${[...known].join(' ')}`);
  if (!a.startsWith('--') && !VALUED.includes(argv[i - 1])) throw new Error(`bench: unexpected argument '${a}'`);
}
const autotune = flag('--autotune');
const quick = flag('--quick'), jsonOnly = flag('--json'), profile = flag('--profile'), device = flag('--device');
const runsOverride = value('--runs') === undefined ? undefined : Number(value('--runs'));
if (runsOverride !== undefined && !(Number.isInteger(runsOverride) && runsOverride >= 1)) throw new Error('--runs takes a positive integer');
const only = value('--only')?.split(',');
const igSteps = (value('--ig-steps') ?? '50').split(',').map(Number);
if (!igSteps.every((n) => Number.isInteger(n) && n >= 1)) throw new Error('--ig-steps takes positive integers, e.g. 50 or 50,200');
const peakGflops = value('--peak-gflops') === undefined ? undefined : Number(value('--peak-gflops'));
if (peakGflops !== undefined && !(peakGflops > 0)) throw new Error('--peak-gflops takes the adapter\'s FP32 peak in GFLOP/s, e.g. 66900');
// 3x3 stride-1 convolutions: Winograd's tile per pass (parseWinograd), or the engine's defaults.
const winogradMode = value('--winograd');
convSettings.precision = parsePrecision(value('--precision') ?? 'f32');
const { forward: forwardPrecision, gradInput: gradInputPrecision } = convSettings.precision;
const f16 = forwardPrecision === 'f16' || gradInputPrecision === 'f16';
if (winogradMode !== undefined) Object.assign(winograd, parseWinograd(winogradMode));
const tileNote = (t: number) => (t ? `Winograd F(${t}x${t}, 3x3)` : 'direct');
const precisionNote = f16 ? `; convolutions: forward ${forwardPrecision}, input gradient ${gradInputPrecision} (\`--precision\`: the direct and tiled kernels; Winograd's and the weight gradient stay f32)` : '';
const convNote = `3x3 stride-1 convolutions: forward ${tileNote(winograd.forwardTile)}, input gradient ${tileNote(winograd.gradInputTile)}, weight gradient ${tileNote(winograd.gradWeightTile)}${precisionNote}`;
const [GPU_HEADING, , F16_HEADING] = README_SECTIONS;
const log = (...a: unknown[]) => (jsonOnly ? console.error(...a) : console.log(...a));

interface Row {
  case: string;
  engine_ms: number;
  reference_ms: number | null;
  ratio: number | null;
  gflops: number;
  rel_l2: number | null;
  rel_max: number | null;
  /** What the errors are against: 'captum' (../shared/ref) or 'pytorch' (this bench's reference). */
  error_against?: string;
  /** The PyTorch reference's own error against ../shared/ref, for scale. */
  reference_rel_max?: number | null;
  runs: number;
  device?: string;
}

const ctx = await createNodeGpu({ profile });
if (f16 && !ctx.shaderF16) throw new Error(`--precision f16: the adapter (${ctx.adapterDescription}) lacks the shader-f16 feature`);
log(`adapter: ${ctx.adapterDescription}${profile && !ctx.profiler ? ' (no timestamp-query: --profile is ignored)' : ''}; ${convNote}`);
const weights50 = resnet50Path();
const reference = await startReference(REF_DIR, weights50);
const referenceNote = 'missing' in reference ? `no reference times: ${reference.missing}`
  : `PyTorch ${reference.describe.torch} on ${reference.describe.device === 'cpu' ? `the CPU, ${reference.describe.threads} threads` : reference.describe.device}`;
log(`reference: ${referenceNote}`);
const rows: Row[] = [];
let tuneMs = 0, tuned = 0;
/** --autotune: runs one tuning, timed apart from the cases. */
async function tune(what: string, run: (log: (c: TuneChoice) => void) => Promise<TuneChoice[]>): Promise<void> {
  if (!autotune) return;
  const t0 = performance.now();
  const choices = await run((c) => log(`  tuned ${describeChoice(c)}`));
  const ms = performance.now() - t0;
  tuneMs += ms;
  tuned += choices.length;
  log(`${what}: ${choices.length} tiles tuned in ${(ms / 1000).toFixed(1)} s`);
}
const profiles: Record<string, { kernel: string; calls: number; ms: number }[]> = {};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number, digits = 3) => Number(x.toPrecision(digits));

/** The timing columns: medians of the engine's and the reference's runs, and their ratio. */
function timing(engine: number[], reference: number[]): Pick<Row, 'engine_ms' | 'reference_ms' | 'ratio'> {
  const ms = median(engine), rms = reference.length ? median(reference) : null;
  return { engine_ms: Math.round(ms), reference_ms: rms === null ? null : Math.round(rms), ratio: rms === null ? null : round(ms / rms) };
}

function addRow(r: Row): void {
  if (device) r.device = ctx.adapterDescription;
  rows.push(r);
  log(JSON.stringify(r));
}

interface AttributionCase {
  model: 'resnet18' | 'resnet50' | 'mobilenet_v2';
  method: 'ig' | 'occlusion' | 'gradcam' | 'saliency';
  label: string;
  /** IG's steps, sent to the reference. */
  steps?: number;
  refKey: string | null;
  flops: number;
  heavy: boolean;
  run: () => Promise<Tensor>;
}

async function benchAttribution(c: AttributionCase, file: string): Promise<void> {
  const name = `${c.model} ${c.label}`;
  const runs = runsOverride ?? (quick || c.heavy ? 1 : 3);
  const engine: number[] = [], refMs: number[] = [];
  let data: Float32Array | null = null;
  const refOut = join(tmpdir(), `glimpse-bench-${process.pid}.f32`);
  let refData: Float32Array | null = null;
  for (let r = 0; r < runs; r++) {
    ctx.profiler?.reset();
    await tidy(async () => {
      const t0 = performance.now();
      const out = await (await c.run()).data();
      engine.push(performance.now() - t0);
      log(`  ${name}: engine run ${r + 1}/${runs} ${(performance.now() - t0).toFixed(0)} ms`);
      data ??= out;
    });
    // The last run's kernels: the first also pays once-per-weight work (layouts, Winograd transforms).
    if (r === runs - 1 && ctx.profiler) {
      await ctx.profiler.settle();
      const report = ctx.profiler.report();
      profiles[name] = [...report.slice(0, 12), { kernel: 'all kernels', calls: report.reduce((n, k) => n + k.calls, 0), ms: report.reduce((t, k) => t + k.ms, 0) }]
        .map((k) => ({ ...k, ms: round(k.ms, 4) }));
    }
    if (!('missing' in reference)) {
      const res = await reference.run({ case: `${c.model}.${c.method}`, steps: c.steps, out: r === 0 ? refOut : null });
      refMs.push(res.ms);
      log(`  ${name}: PyTorch run ${r + 1}/${runs} ${res.ms.toFixed(0)} ms`);
      if (r === 0) {
        refData = new Float32Array(new Uint8Array(readFileSync(refOut)).buffer);
        rmSync(refOut, { force: true });
      }
    }
  }
  const want = c.refKey ? ref(file, c.refKey).data : refData;
  addRow({
    case: name, ...timing(engine, refMs), gflops: round(c.flops / median(engine) / 1e6), rel_l2: want ? round(relL2Error(data!, want)) : null, rel_max: want ? round(relMaxError(data!, want)) : null,
    error_against: c.refKey ? 'captum' : want ? 'pytorch' : 'none',
    reference_rel_max: c.refKey && refData ? round(relMaxError(refData, ref(file, c.refKey).data)) : null, runs,
  });
}

/** MobileNetV2's target and Grad-CAM layer, from its reference file's metadata. */
const MOBILENET_FILE = 'models/mobilenet_v2_chelsea_224.safetensors', MOBILENET_ONNX = join(REF_DIR, 'models', 'mobilenet_v2_seed0.onnx');
const mobilenetMeta = existsSync(join(REF_DIR, MOBILENET_FILE)) ? parseSafetensors(new Uint8Array(readFileSync(join(REF_DIR, MOBILENET_FILE)))).metadata : null;
const MODELS = [
  { model: 'resnet18' as const, file: 'resnet18_chelsea_224.safetensors', target: 281, layer: 'layer3.1.conv2', refCam: 'gradcam_layer3.1.conv2' },
  { model: 'resnet50' as const, file: 'resnet50_keras_chelsea_224.safetensors', target: 285, layer: 'layer4.2.conv3', refCam: 'gradcam_layer4.2.conv3' },
  ...(mobilenetMeta ? [{ model: 'mobilenet_v2' as const, file: MOBILENET_FILE, target: Number(mobilenetMeta.target), layer: mobilenetMeta.gradcam_layer, refCam: 'gradcam' }] : []),
];
const selected = (label: string) => !only || only.some((o) => label.includes(o));
/** The cases' names, known before a model is loaded, so that --only loads only what it runs. */
const labels = (m: (typeof MODELS)[number]) => ({
  gradcam: `Grad-CAM ${m.layer}`, saliency: 'Saliency', ig: igSteps.map((n) => `IG ${n} steps`), occlusion: 'Occlusion 3x15x15 / 3x8x8',
});

for (const m of MODELS) {
  const label = labels(m);
  const names = [label.gradcam, label.saliency, ...label.ig, ...(quick ? [] : [label.occlusion])];
  if (!names.some((l) => selected(`${m.model} ${l}`))) continue;
  if (m.model === 'resnet50' && !existsSync(weights50)) {
    log(`resnet50: ${weights50} is not there (npx glimpse fetch-weights); its cases are skipped`);
    continue;
  }
  const graph = m.model === 'mobilenet_v2' ? loadOnnxClassifier(ctx, MOBILENET_ONNX).net : null;
  const net: Module = graph ?? (m.model === 'resnet18' ? (await resnet18Seed0(ctx)).net : (await loadClassifier(ctx, { model: 'resnet50' })).net as ResNet);
  await tune(m.model, (l) => tuneModel(ctx, net, [16, 3, 224, 224], { log: l }));
  const input = ref(m.file, 'input');
  const x = fromArray(ctx, input.data, input.shape);
  const layers = graph ? graphLayerFlops(graph as GraphModel, 224) : layerFlops(ctx, net as ResNet, 224);
  const full = passFlops(layers), toCam = passFlops(layers, m.layer);
  const windows = 28 * 28; // ceil((224 - 15) / 8) + 1 = 28 positions per side (the last cropped), one channel block
  const has = (k: string) => refTensors(m.file).has(k);
  const cases: AttributionCase[] = [
    { model: m.model, method: 'gradcam', label: label.gradcam, refKey: m.refCam, flops: full.forward + toCam.backward, heavy: false,
      run: () => new A.LayerGradCam(net, m.layer).attribute(x, { target: m.target }) },
    { model: m.model, method: 'saliency', label: label.saliency, refKey: has('saliency') ? 'saliency' : null, flops: full.forward + full.backward, heavy: false,
      run: () => new A.Saliency(net).attribute(x, { target: m.target }) },
    // Captum's reference holds IG with 50 steps; other step counts are checked against the PyTorch reference.
    ...igSteps.map((n, i): AttributionCase => ({
      model: m.model, method: 'ig', label: label.ig[i], steps: n, refKey: n === 50 ? 'ig_gl50' : null, flops: n * (full.forward + full.backward),
      heavy: m.model === 'resnet50' || n > 50, run: () => new A.IntegratedGradients(net).attribute(x, { target: m.target, nSteps: n }),
    })),
    { model: m.model, method: 'occlusion', label: label.occlusion, refKey: 'occlusion_w15_s8', flops: (windows + 1) * full.forward, heavy: true,
      run: () => new A.Occlusion(net).attribute(x, { target: m.target, slidingWindowShapes: [3, 15, 15], strides: [3, 8, 8], baselines: 0 }) },
  ];
  for (const c of cases) {
    if (quick && c.method === 'occlusion') continue;
    if (selected(`${c.model} ${c.label}`)) await benchAttribution(c, m.file);
  }
  x.release();
}

// A dataset: DATASET_IMAGES views of the reference photo (mirrored and shifted), attributed one at a time
// as a batch run does, against the same loop in PyTorch; images per second and the pool's live bytes
// across the images (flat: nothing accumulates). The first view is the photo itself: its result is
// checked against Captum's single-image reference.
const DATASET_IMAGES = 16;
const datasetLabel = (what: string) => `resnet50 dataset of ${DATASET_IMAGES} images, ${what}`;
const datasetCases = [
  { method: 'ig', what: 'IG 50 steps', refKey: 'ig_gl50', run: (net: Module, x: Tensor) => new A.IntegratedGradients(net).attribute(x, { target: 285, nSteps: 50 }) },
  { method: 'gradcam', what: 'Grad-CAM layer4.2.conv3', refKey: 'gradcam_layer4.2.conv3', run: (net: Module, x: Tensor) => new A.LayerGradCam(net, 'layer4.2.conv3').attribute(x, { target: 285 }) },
].filter((c) => selected(datasetLabel(c.what)));
const datasetNotes: string[] = [];
if (datasetCases.length && existsSync(weights50)) {
  const net = (await loadClassifier(ctx, { model: 'resnet50' })).net as ResNet;
  const file = 'resnet50_keras_chelsea_224.safetensors', photo = ref(file, 'input').data, S = 224, plane = S * S;
  const views = new Float32Array(DATASET_IMAGES * 3 * plane);
  for (let k = 0; k < DATASET_IMAGES; k++) {
    const shift = 7 * Math.floor(k / 2), mirror = k % 2 === 1;
    for (let c = 0; c < 3; c++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
      const sx = ((mirror ? S - 1 - x : x) + shift) % S;
      views[k * 3 * plane + c * plane + y * S + x] = photo[c * plane + y * S + sx];
    }
  }
  const viewsFile = join(tmpdir(), `glimpse-bench-views-${process.pid}.f32`);
  writeFileSync(viewsFile, new Uint8Array(views.buffer));
  const layers = layerFlops(ctx, net, 224), full = passFlops(layers), toCam = passFlops(layers, 'layer4.2.conv3');
  for (const c of datasetCases) {
    let first: Float32Array | null = null;
    const live: number[] = [];
    const t0 = performance.now();
    for (let k = 0; k < DATASET_IMAGES; k++) {
      await tidy(async () => {
        const out = await (await c.run(net, fromArray(ctx, views.subarray(k * 3 * plane, (k + 1) * 3 * plane), [1, 3, S, S]))).data();
        first ??= out;
      });
      live.push(ctx.pool.liveBytes);
      log(`  ${datasetLabel(c.what)}: image ${k + 1}/${DATASET_IMAGES} at ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    const engineMs = performance.now() - t0;
    const refMs = 'missing' in reference ? [] : [(await reference.run({ case: `resnet50.${c.method}`, dataset: viewsFile, count: DATASET_IMAGES })).ms];
    const want = ref(file, c.refKey).data;
    const flops = DATASET_IMAGES * (c.method === 'ig' ? 50 * (full.forward + full.backward) : full.forward + toCam.backward);
    addRow({ case: datasetLabel(c.what), ...timing([engineMs], refMs), gflops: round(flops / engineMs / 1e6), rel_l2: round(relL2Error(first!, want)), rel_max: round(relMaxError(first!, want)), error_against: 'captum', runs: 1 });
    const spread = Math.max(...live) - Math.min(...live);
    datasetNotes.push(`${datasetLabel(c.what)}: ${round((DATASET_IMAGES * 1000) / engineMs)} images/s (PyTorch ${refMs.length ? round((DATASET_IMAGES * 1000) / refMs[0]) : '-'}); the pool's live bytes after each image: ${Math.min(...live)}..${Math.max(...live)} (spread ${spread} bytes); errors: the first image (the photo) against Captum.`);
    log(datasetNotes[datasetNotes.length - 1]);
  }
  rmSync(viewsFile, { force: true });
}

// The conv kernels: mean GFLOP/s over ResNet-18's shapes at batch 16, against PyTorch's on the same shapes.
const BATCH = 16;
const convLabel = (k: string) => `${k} ResNet-18 shapes, batch ${BATCH} (mean)`;
const convKernels = CONV_KERNELS.filter((k) => selected(convLabel(k)));
if (convKernels.length) {
  await tune('conv rows', (l) => tuneConv(ctx, resnet18ConvGeometries(BATCH), { passes: ['forward', 'grad_input', 'grad_weight'], log: l }));
  const runs = runsOverride ?? 1;
  const engine = new Map<string, number[]>(), refMs = new Map<string, number[]>(), gflops = new Map<string, number[]>();
  const push = (m: Map<string, number[]>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v]);
  for (let r = 0; r < runs; r++) {
    const all = await convRows(ctx, BATCH, quick ? 1 : 3);
    for (const k of convKernels) {
      const mine = all.filter((x) => x.kernel === k);
      push(engine, k, mine.reduce((s, x) => s + x.ms, 0));
      push(gflops, k, mine.reduce((s, x) => s + x.gflops, 0) / mine.length);
      if (!('missing' in reference)) push(refMs, k, (await reference.run({ case: `conv.${k.replace('conv2d_', '')}`, batch: BATCH, shapes: RESNET18_CONV_SHAPES, reps: quick ? 1 : 3 })).ms);
    }
  }
  for (const k of convKernels) {
    addRow({ case: convLabel(k), ...timing(engine.get(k)!, refMs.get(k) ?? []), gflops: round(median(gflops.get(k)!)), rel_l2: null, rel_max: null, runs });
  }
}

// The depthwise kernel on MobileNetV2's layers at batch 8, in GB/s beside the copy bandwidth (bench/depthwise.ts).
const DEPTHWISE = 'depthwise kernel (kernels/depthwise.wgsl)';
const depthwise: DepthwiseRow[] = [];
if (selected(DEPTHWISE)) {
  depthwise.push(...await depthwiseRows(ctx, 8));
  for (const k of ['depthwise_forward', 'depthwise_grad_input']) {
    const mine = depthwise.filter((r) => r.kernel === k);
    const gbs = (f: (r: DepthwiseRow) => number) => round(mine.reduce((s, r) => s + r.ms * f(r), 0) / mine.reduce((s, r) => s + r.ms, 0));
    log(`${k}, MobileNetV2's layers at batch 8: ${gbs((r) => r.gbs)} GB/s (time-weighted mean); buffer copy ${gbs((r) => r.copyGbs)}, shader copy ${gbs((r) => r.shaderCopyGbs)} GB/s`);
  }
}

// What the adapter can do at all: a kernel that only multiply-adds in registers (no PyTorch counterpart).
const CEILING = 'multiply-add ceiling (kernels/peak.wgsl)';
if (selected(CEILING)) {
  const runs = runsOverride ?? 3, ms: number[] = [], gf: number[] = [];
  for (let r = 0; r < runs; r++) {
    const c = await multiplyAddCeiling(ctx);
    ms.push(c.ms);
    gf.push(c.gflops);
  }
  addRow({ case: CEILING, ...timing(ms, []), gflops: round(median(gf)), rel_l2: null, rel_max: null, runs });
}

if (!('missing' in reference)) (reference as ReferenceWorker).close();
const path = writeBenchRows(rows, false);
if (profile) writeResult('profile.json', profiles);
writeReadme();
if (jsonOnly) console.log(JSON.stringify(rows, null, 1));
else {
  console.log(table(rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'device').map(([k, v]) => [k, v ?? '-'])) as Record<string, string | number>)));
  console.log(`wrote ${path} and bench/README.md`);
  for (const [name, ks] of Object.entries(profiles)) console.log(`\nprofile ${name}:\n${table(ks)}`);
}
ctx.destroy();

/**
 * bench/README.md: a CPU adapter's f32 run (lavapipe, the machine the targets are set on) writes the
 * main part, a GPU's run the section headed GPU_HEADING, an f16 run (--precision) a section of its own
 * per precision and kind of adapter; each keeps the other sections (bench:peers' too) as they were.
 */
function writeReadme(): void {
  const mine = f16 ? `${F16_HEADING}: forward ${forwardPrecision}, input gradient ${gradInputPrecision}${ctx.cpuAdapter ? '' : ' (on a real GPU)'}` : ctx.cpuAdapter ? '' : GPU_HEADING;
  writeReadmePart(mine, runReport(mine ? '###' : '##'));
}

/** This run's part of bench/README.md: how it was run, on what, and the table; `h` is its subheadings' level. */
function runReport(h: string): string[] {
  const cpu = cpus();
  const fmt = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v !== 0 && Math.abs(v) < 0.01 ? v.toExponential(2) : String(v));
  const peak = peakGflops === undefined ? [] : [`- Peak: ${peakGflops} GFLOP/s FP32 (given with \`--peak-gflops\`); \`% peak\` is a case's GFLOP/s over it.`];
  const lines = [
    `Written by \`npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; do not edit by hand, rerun the bench.`,
    '',
    `- Machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores; Node ${process.version}, ${process.platform}.`,
    `- Adapter: ${ctx.adapterDescription}; ${convNote}.`,
    `- Reference: ${referenceNote} (\`bench/reference/reference.py\`: the same computations with \`torch.autograd.grad\`, no Captum), run in the same invocation, alternating with the engine; times are medians of \`runs\`.`,
    '- Errors (relative L2 and max) are against `../shared/ref` (Captum\'s outputs) where it has the case, else against the PyTorch reference (`vs`); `PyTorch err` is the reference\'s own relative max error against `../shared/ref`, for scale.',
    '- GFLOP/s counts the convolutions and the classifier (x2 multiply-adds): a backward pass to the input costs what the forward costs (no weight gradients); Grad-CAM\'s backward stops at its layer; IG with N steps is N forward+backward passes, Occlusion 785 full forwards (what Captum computes; the receptive-field forward does less, so its GFLOP/s is effective).',
    '- The multiply-add ceiling (`kernels/peak.wgsl`, `bench/ceiling.ts`): invocations that only multiply-add in registers (32 independent chains each, four updates a loop round), for scale: what the adapter can do at all.',
    ...peak,
    ...(autotune ? [`- Tiles: tuned in this run (\`--autotune\`: ${tuned} choices in ${(tuneMs / 1000).toFixed(1)} s, before the cases, not counted in their times); else the defaults.`] : []),
    '',
    `| case | engine ms | PyTorch ms | ratio | GFLOP/s |${peakGflops ? ' % peak |' : ''} rel L2 | rel max | vs | PyTorch err | runs |`,
    `|---|---:|---:|---:|---:|${peakGflops ? '---:|' : ''}---:|---:|---|---:|---:|`,
    ...rows.map((r) => `| ${r.case} | ${r.engine_ms} | ${fmt(r.reference_ms)} | ${fmt(r.ratio)} | ${fmt(r.gflops)} |${peakGflops ? ` ${round((100 * r.gflops) / peakGflops, 2)} |` : ''} ${fmt(r.rel_l2)} | ${fmt(r.rel_max)} | ${r.error_against ?? '-'} | ${fmt(r.reference_rel_max)} | ${r.runs} |`),
    '',
  ];
  if (datasetNotes.length) lines.push(`${h} Datasets`, '', ...datasetNotes.map((n) => `- ${n}`), '');
  if (depthwise.length) {
    lines.push(`${h} Depthwise kernel`, '', 'MobileNetV2\'s depthwise 3x3 layers at 224x224, batch 8: GB/s counts the input and output once each (what the layer must move), beside a buffer-to-buffer copy of the same bytes (a memcpy on a CPU adapter) and a shader that loads and stores each value once (vec4).', '',
      '| pass | layer | ms | GB/s | copy GB/s | shader copy GB/s |', '|---|---|---:|---:|---:|---:|',
      ...depthwise.map((r) => `| ${r.kernel} | ${r.shape} | ${round(r.ms)} | ${round(r.gbs)} | ${round(r.copyGbs)} | ${round(r.shaderCopyGbs)} |`), '');
  }
  if (device) {
    const l = ctx.limits;
    lines.push(`${h} Adapter`, '', `${ctx.adapterDescription}; features: ${[...ctx.device.features].sort().join(', ') || 'none'}; maxStorageBufferBindingSize ${l.maxStorageBufferBindingSize}, maxComputeInvocationsPerWorkgroup ${l.maxComputeInvocationsPerWorkgroup}.`, '');
  }
  if (profile && Object.keys(profiles).length) {
    lines.push(`${h} Profile (GPU time per kernel, first run of each case; timestamps slow the run)`, '');
    for (const [name, ks] of Object.entries(profiles)) {
      lines.push(`**${name}**: ${ks.slice(0, 6).map((k) => `${k.kernel} ${k.ms.toFixed(0)} ms (${k.calls})`).join(', ')}`, '');
    }
  }
  return lines;
}
