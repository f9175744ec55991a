// npm run bench:peers [-- --batches 1,16] [--runs N] [--engines tfjs-webgpu,ort-webgpu,ort-wasm,ort-node]:
// the pretrained ResNet-50's forward at 224 on Glimpse and on the engines a web page could use instead
// (TensorFlow.js and ONNX Runtime Web on the same WebGPU adapter through Dawn, ONNX Runtime Web's
// WebAssembly) and onnxruntime-node's CPU for scale. Each engine runs in its own process
// (worker.ts); runs alternate between engines; medians. Every peer's logits are compared with
// Glimpse's. Writes bench/PEERS.md and bench/results/peers.json. The peers are installed into
// bench/peers/node_modules on first use, apart from Glimpse's own dependencies.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { relL2Error } from '../../test/helpers.ts';
import { table, writeResult } from '../util.ts';
import { preparePeerFiles } from './files.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const arg = (name: string, fallback: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : fallback; };
const batches = arg('--batches', '1,16').split(',').map(Number);
const runs = Number(arg('--runs', '3'));
const peers = arg('--engines', 'tfjs-webgpu,ort-webgpu,ort-wasm,ort-node').split(',');
const log = (line: string) => console.error(`bench:peers: ${line}`);

if (!existsSync(join(HERE, 'node_modules', 'onnxruntime-web'))) {
  log('installing the peers into bench/peers/node_modules (once)');
  // onnxruntime-node's install script reaches outside the registries; its CPU binary ships in the package.
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: HERE, stdio: 'inherit' });
}
// The root tsconfig leaves bench/peers out (a fresh clone has no peers): check it here.
execFileSync(process.execPath, [join(HERE, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(HERE, 'tsconfig.json'), '--noEmit'], { stdio: 'inherit' });
await preparePeerFiles(log);

interface Worker { name: string; describe: string; forward(batch: number): Promise<{ ms: number; logits: number[] }>; close(): void }

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
    async forward(batch) {
      child.stdin.write(`${JSON.stringify({ batch })}\n`);
      return next();
    },
    close: () => child.stdin.end(),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number, d = 3) => Number(x.toPrecision(d));
const top1 = (l: number[]) => l.indexOf(Math.max(...l));

const workers: Worker[] = [];
for (const name of ['glimpse', ...peers]) {
  const t0 = performance.now();
  workers.push(await startWorker(name));
  log(`${workers[workers.length - 1].describe}: ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
const times = new Map<string, number[]>(), logits = new Map<string, number[]>();
for (const b of batches) {
  for (const w of workers) {
    const t0 = performance.now();
    logits.set(`${w.name} ${b}`, (await w.forward(b)).logits); // the first pass compiles: not timed
    log(`${w.name} batch ${b}: first pass ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  for (let r = 0; r < runs; r++) {
    for (const w of workers) {
      const { ms } = await w.forward(b);
      times.set(`${w.name} ${b}`, [...(times.get(`${w.name} ${b}`) ?? []), ms]);
      log(`${w.name} batch ${b}: run ${r + 1}/${runs} ${(ms / 1000).toFixed(2)} s`);
    }
  }
}
workers.forEach((w) => w.close());

const rows = batches.flatMap((b) => workers.slice(1).map((w) => {
  const mine = median(times.get(`glimpse ${b}`)!), theirs = median(times.get(`${w.name} ${b}`)!);
  const ours = logits.get(`glimpse ${b}`)!, peer = logits.get(`${w.name} ${b}`)!;
  return {
    case: `resnet50 forward b${b}`, peer: w.name, glimpse_ms: round(mine, 4), peer_ms: round(theirs, 4), ratio: round(mine / theirs),
    logits_rel_l2: round(relL2Error(peer, ours), 2), same_top1: top1(peer) === top1(ours) ? 'yes' : 'no', runs,
  };
}));
const engines = workers.map((w) => `- ${w.name}: ${w.describe}`);
writeResult('peers.json', { date: new Date().toISOString(), engines: workers.map((w) => ({ name: w.name, describe: w.describe })), rows });
const md = [
  '# Glimpse beside the engines a web page could use',
  '',
  `Written by \`npm run bench:peers\` on ${new Date().toISOString().slice(0, 10)}: the pretrained ResNet-50's forward at 224x224 on the reference photo, each engine in its own process, ${runs} runs alternating between engines after one untimed pass, medians. ratio = Glimpse / peer (below 1: Glimpse is faster). logits_rel_l2: the peer's logits against Glimpse's.`,
  '',
  ...engines,
  '',
  '```',
  table(rows),
  '```',
  '',
];
writeFileSync(join(HERE, '..', 'PEERS.md'), md.join('\n'));
console.log(table(rows));
process.exit(0);
