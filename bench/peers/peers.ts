// npm run bench:peers [-- --batches 1,16] [--runs N] [--engines tfjs-webgpu,ort-webgpu,ort-wasm,ort-node]
//   [--ig-steps N] [--grad-runs N] [--no-grad] [--report]:
// the pretrained ResNet-50 at 224 on Glimpse and on the engines a web page could use instead
// (TensorFlow.js and ONNX Runtime Web on the same WebGPU adapter through Dawn, ONNX Runtime Web's
// WebAssembly) and onnxruntime-node's CPU for scale: the forward at each batch, and with TF.js (the
// one peer with gradients) Saliency and Gauss-Legendre IG to class 285. Each engine runs in its own
// process (worker.ts); runs alternate between engines after one untimed pass; medians. Every peer's
// logits and attributions are compared with Glimpse's. Writes bench/results/peers.json (the run) and,
// from it, the section "Beside the WebGPU peers and WebAssembly" of bench/README.md and the peer rows
// of bench/results/bench.json; `--report` rewrites those two from the saved run. The peers are
// installed into bench/peers/node_modules on first use, apart from Glimpse's own dependencies.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { relL2Error } from '../../test/helpers.ts';
import { type PeerRow, README_SECTIONS, lastPeerRun, table, writeBenchRows, writeReadmePart, writeResult } from '../util.ts';
import { preparePeerFiles } from './files.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const arg = (name: string, fallback: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : fallback; };
const batches = arg('--batches', '1,16').split(',').map(Number);
const runs = Number(arg('--runs', '3'));
const peers = arg('--engines', 'tfjs-webgpu,ort-webgpu,ort-wasm,ort-node').split(',');
const igSteps = Number(arg('--ig-steps', '50')), gradRuns = Number(arg('--grad-runs', '1'));
const GRADIENT_PEERS = ['tfjs-webgpu'];
const log = (line: string) => console.error(`bench:peers: ${line}`);
const PEERS_HEADING = README_SECTIONS[1];
if (process.argv.includes('--report')) {
  report();
  process.exit(0);
}

if (!existsSync(join(HERE, 'node_modules', 'onnxruntime-web'))) {
  log('installing the peers into bench/peers/node_modules (once)');
  // onnxruntime-node's install script reaches outside the registries; its CPU binary ships in the package.
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: HERE, stdio: 'inherit' });
}
// The root tsconfig leaves bench/peers out (a fresh clone has no peers): check it here.
execFileSync(process.execPath, [join(HERE, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(HERE, 'tsconfig.json'), '--noEmit'], { stdio: 'inherit' });
await preparePeerFiles(log);

type Request = { method: 'forward'; batch: number; model: 'resnet50' | 'mobilenet_v2' } | { method: 'saliency' } | { method: 'ig'; steps: number };
interface Worker { name: string; describe: string; run(r: Request): Promise<{ ms: number; logits?: number[]; attributions?: number[] }>; close(): void }

async function startWorker(name: string): Promise<Worker> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'worker.ts'), name], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error(`the ${name} worker exited`);
    const o = JSON.parse(r.value);
    if (o.error) throw new Error(`${name}: ${o.error}`);
    return o;
  };
  const { describe } = await next();
  return {
    name, describe,
    async run(request) {
      child.stdin.write(`${JSON.stringify(request)}\n`);
      return next();
    },
    close: () => child.stdin.end(),
  };
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const round = (x: number, d = 3) => Number(x.toPrecision(d));
const top1 = (l: number[]) => l.indexOf(Math.max(...l));

const workers: Worker[] = [];
for (const name of ['glimpse', ...peers]) {
  const t0 = performance.now();
  workers.push(await startWorker(name));
  log(`${workers[workers.length - 1].describe}: ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
// Each case: its request, the engines that run it, how many timed runs.
const cases = [
  ...batches.map((b) => ({ label: `resnet50 forward b${b}`, request: { method: 'forward', batch: b, model: 'resnet50' } as Request, engines: workers, runs })),
  // MobileNetV2 from ../shared/ref (the ONNX importer's file) on the engines that read ONNX.
  ...batches.map((b) => ({ label: `mobilenet_v2 (ONNX) forward b${b}`, request: { method: 'forward', batch: b, model: 'mobilenet_v2' } as Request, engines: workers.filter((w) => w.name !== 'tfjs-webgpu'), runs })),
  ...(process.argv.includes('--no-grad') ? [] : [
    { label: 'resnet50 Saliency b1', request: { method: 'saliency' } as Request, engines: workers.filter((w) => w.name === 'glimpse' || GRADIENT_PEERS.includes(w.name)), runs: gradRuns },
    { label: `resnet50 IG ${igSteps} steps`, request: { method: 'ig', steps: igSteps } as Request, engines: workers.filter((w) => w.name === 'glimpse' || GRADIENT_PEERS.includes(w.name)), runs: gradRuns },
  ]),
];
const rows: PeerRow[] = [];
for (const c of cases) {
  const times = new Map<string, number[]>(), outputs = new Map<string, number[]>();
  // The first pass compiles and is not timed; for IG one batch of steps compiles what the others run.
  const warmUp = c.request.method === 'ig' ? { ...c.request, steps: Math.min(c.request.steps, 16) } : c.request;
  for (const w of c.engines) {
    const t0 = performance.now();
    await w.run(warmUp);
    log(`${c.label}, ${w.name}: first pass ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  for (let k = 0; k < c.runs; k++) {
    for (const w of c.engines) {
      const r = await w.run(c.request), { ms } = r;
      outputs.set(w.name, (r.logits ?? r.attributions)!);
      times.set(w.name, [...(times.get(w.name) ?? []), ms]);
      log(`${c.label}, ${w.name}: run ${k + 1}/${c.runs} ${(ms / 1000).toFixed(2)} s`);
    }
  }
  const mine = median(times.get('glimpse')!), ours = outputs.get('glimpse')!;
  for (const w of c.engines.filter((e) => e.name !== 'glimpse')) {
    const theirs = median(times.get(w.name)!), peer = outputs.get(w.name)!;
    rows.push({
      case: c.label, peer: w.name, engine_ms: round(mine, 4), peer_ms: round(theirs, 4), ratio: round(mine / theirs),
      rel_l2_vs_glimpse: round(relL2Error(peer, ours), 2), ...(c.request.method === 'forward' ? { same_top1: top1(peer) === top1(ours) ? 'yes' : 'no' } : {}), runs: c.runs,
    });
  }
}
workers.forEach((w) => w.close());

const args = process.argv.slice(2).join(' ');
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; Node ${process.version}`;
writeResult('peers.json', { date: new Date().toISOString(), args, machine, engines: workers.map((w) => ({ name: w.name, describe: w.describe })), rows });
report();
console.log(table(rows as unknown as Record<string, string | number>[]));
process.exit(0);

/**
 * The last run (bench/results/peers.json) as the section of bench/README.md headed PEERS_HEADING
 * and as rows of bench/results/bench.json, beside the main bench's.
 */
function report(): void {
  const run = lastPeerRun();
  if (!run) throw new Error('bench:peers --report: no bench/results/peers.json yet; run npm run bench:peers first');
  writeBenchRows(run.rows, true);
  const fmt = (v: number) => (Math.abs(v) < 0.01 ? v.toExponential(1) : String(v));
  writeReadmePart(PEERS_HEADING, [
    `Written by \`npm run bench:peers${run.args ? ` -- ${run.args}` : ''}\` on ${run.date.slice(0, 16).replace('T', ' ')} UTC; do not edit by hand, rerun it.${run.note ? ` Note: ${run.note}.` : ''}`,
    '',
    'The pretrained ResNet-50 and ../shared/ref\'s MobileNetV2 (ONNX; TF.js does not read it) at 224x224 on the reference photo: the forward at each batch; Saliency and Gauss-Legendre IG to class 285, steps in batches of 16, against TF.js\'s `tf.grad`. Each engine runs in its own process, on the same adapter where it takes WebGPU; runs alternate between engines after one untimed pass (for IG, one batch of 16 steps); times are medians. ratio = Glimpse / peer (below 1: Glimpse is faster); rel L2 vs Glimpse: the peer\'s logits or attributions against Glimpse\'s.',
    '',
    `- Machine: ${run.machine}.`,
    ...run.engines.map((e) => `- ${e.name}: ${e.describe}`),
    '',
    '| case | peer | Glimpse ms | peer ms | ratio | rel L2 vs Glimpse | same top 1 | runs |',
    '|---|---|---:|---:|---:|---:|---|---:|',
    ...run.rows.map((r) => `| ${r.case} | ${r.peer} | ${r.engine_ms} | ${r.peer_ms} | ${r.ratio} | ${fmt(r.rel_l2_vs_glimpse)} | ${r.same_top1 ?? '-'} | ${r.runs} |`),
  ]);
  log('wrote bench/README.md (its peers section) and bench/results/bench.json');
}
