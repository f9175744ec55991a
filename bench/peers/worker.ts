// One engine of npm run bench:peers in its own process (each holds its own WebGPU device and heap):
// `node --import tsx bench/peers/worker.ts ENGINE`, then one JSON request per line on stdin,
// {"batch": B}, answered with {"ms", "logits"} (the first example's logits) on stdout. The first line
// out describes the engine. How each peer is made to run in Node: ../shared/notes/peers-in-node.md.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PEER_FILES, photoNchw } from './files.ts';

const MODULES = join(dirname(fileURLToPath(import.meta.url)), 'node_modules');
const version = (pkg: string) => JSON.parse(readFileSync(join(MODULES, pkg, 'package.json'), 'utf8')).version as string;

/**
 * Saliency and IG attribute the photo to class 285 (Egyptian cat), as [3, 224, 224] in Glimpse's
 * layout (RGB, channels first): the raw input gradient, and Gauss-Legendre IG from a zero baseline
 * with its steps in batches of IG_BATCH.
 */
interface Engine {
  describe: string;
  forward(batch: number, model: PeerModel): Promise<Float32Array>;
  saliency?(): Promise<Float32Array>;
  ig?(steps: number): Promise<Float32Array>;
}
const TARGET = 285, IG_BATCH = 16;
/** resnet50: the pretrained one on its input; mobilenet_v2: ../shared/ref's ONNX file on its reference input. */
type PeerModel = 'resnet50' | 'mobilenet_v2';

/** Dawn's navigator.gpu, before any WebGPU peer is imported (they look for it at import). */
async function nodeNavigator(): Promise<GPU> {
  const webgpu = await import('webgpu');
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create([]);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: 'node' }, configurable: true });
  return gpu;
}

/** Copies the photo's [3, 224, 224] input B times, in `layout`. */
function batchOf(batch: number, layout: 'nchw' | 'nhwc-bgr', model: PeerModel = 'resnet50'): Float32Array {
  const x = photoNchw(model), S = 224, plane = S * S, one = new Float32Array(3 * plane);
  if (layout === 'nchw') one.set(x);
  // Keras' caffe preprocessing is BGR minus its means: Glimpse's input with the channels reversed, channels last.
  else for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) one[i * 3 + (2 - c)] = x[c * plane + i];
  const out = new Float32Array(batch * one.length);
  for (let b = 0; b < batch; b++) out.set(one, b * one.length);
  return out;
}

async function glimpse(): Promise<Engine> {
  const { createNodeGpu, loadClassifier, loadOnnxClassifier } = await import('../../src/node.ts');
  const { fromArray, noGrad, tidy } = await import('../../src/index.ts');
  const ctx = await createNodeGpu();
  const model = await loadClassifier(ctx, { model: 'resnet50' });
  let mobilenet: ReturnType<typeof loadOnnxClassifier> | undefined;
  const { Saliency, IntegratedGradients } = await import('../../src/index.ts');
  const photo = () => fromArray(ctx, batchOf(1, 'nchw'), [1, 3, 224, 224]);
  return {
    describe: `Glimpse (Node, Dawn) on ${ctx.adapterDescription}`,
    forward: (batch, which) => tidy(async () => {
      const net = which === 'resnet50' ? model.net : (mobilenet ??= loadOnnxClassifier(ctx, PEER_FILES.mobilenet)).net;
      return (await noGrad(() => net.call(fromArray(ctx, batchOf(batch, 'nchw', which), [batch, 3, 224, 224]))).data()).slice(0, 1000);
    }),
    saliency: () => tidy(async () => (await new Saliency(model.net).attribute(photo(), { target: TARGET, abs: false })).data()),
    ig: (steps) => tidy(async () => (await new IntegratedGradients(model.net).attribute(photo(), { target: TARGET, nSteps: steps, internalBatchSize: IG_BATCH })).data()),
  };
}

async function tfjsWebgpu(): Promise<Engine> {
  await nodeNavigator();
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-cpu');
  await import('@tensorflow/tfjs-backend-webgpu');
  const layers = await import('@tensorflow/tfjs-layers');
  await tf.setBackend('webgpu');
  await tf.ready();
  // The same Keras ResNet50 Glimpse converts, with fc1000's softmax turned off: logits out.
  const topology = JSON.parse(readFileSync(join(PEER_FILES.tfjsDir, 'model.json'), 'utf8'));
  for (const l of topology.modelTopology.model_config.config.layers) if (l.name === 'fc1000') l.config.activation = 'linear';
  const specs = topology.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights);
  const shards = topology.weightsManifest.flatMap((g: { paths: string[] }) => g.paths).map((p: string) => readFileSync(join(PEER_FILES.tfjsDir, p)));
  const weightData = new Uint8Array(shards.reduce((n: number, s: Buffer) => n + s.length, 0));
  shards.reduce((at: number, s: Buffer) => (weightData.set(s, at), at + s.length), 0);
  const model = await layers.loadLayersModel(tf.io.fromMemory({ modelTopology: topology.modelTopology, weightSpecs: specs, weightData: weightData.buffer }));
  type T = import('@tensorflow/tfjs-core').Tensor;
  // As a TF.js user writes it: tf.grad of the target's logit, summed over the batch.
  const gradOf = tf.grad((xs: T) => tf.sum(tf.gather(model.apply(xs) as T, [TARGET], 1)));
  const photo = () => tf.tensor4d(batchOf(1, 'nhwc-bgr'), [1, 224, 224, 3]);
  /** Channels-last BGR back to Glimpse's channels-first RGB. */
  const toNchw = (a: Float32Array) => {
    const out = new Float32Array(a.length), plane = 224 * 224;
    for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) out[c * plane + i] = a[i * 3 + (2 - c)];
    return out;
  };
  const { legendreGauss } = await import('../../src/index.ts');
  return {
    describe: `TensorFlow.js ${version('@tensorflow/tfjs-core')} WebGPU (Node, Dawn)`,
    async saliency() {
      const out = tf.tidy(() => gradOf(photo()));
      const a = toNchw(await out.data() as Float32Array);
      out.dispose();
      return a;
    },
    async ig(steps) {
      const { nodes, weights } = legendreGauss(steps);
      const x = photo();
      let total: T = tf.zerosLike(x);
      for (let i = 0; i < steps; i += IG_BATCH) {
        const alphas = nodes.slice(i, i + IG_BATCH).map((n) => (n + 1) / 2), w = weights.slice(i, i + IG_BATCH).map((v) => v / 2);
        const next = tf.tidy(() => {
          const scaled = tf.mul(tf.tensor4d(alphas, [alphas.length, 1, 1, 1]), x);
          const g = gradOf(scaled);
          return tf.add(total, tf.sum(tf.mul(g, tf.tensor4d(w, [w.length, 1, 1, 1])), 0, true));
        });
        total.dispose();
        total = next;
        await total.data(); // one chunk at a time, as the GPU finishes it
      }
      const attr = tf.mul(total, x);
      const a = toNchw(await attr.data() as Float32Array);
      tf.dispose([x, total, attr]);
      return a;
    },
    async forward(batch, which) {
      if (which !== 'resnet50') throw new Error(`TF.js runs the Keras ResNet50 only, not ${which}`);
      const x = tf.tensor4d(batchOf(batch, 'nhwc-bgr'), [batch, 224, 224, 3]);
      const y = model.predict(x) as import('@tensorflow/tfjs-core').Tensor;
      const out = (await y.data() as Float32Array).slice(0, 1000);
      x.dispose(); y.dispose();
      return out;
    },
  };
}

async function onnxRuntime(kind: 'ort-webgpu' | 'ort-wasm' | 'ort-node'): Promise<Engine> {
  let ort: typeof import('onnxruntime-web');
  let providers: string[];
  if (kind === 'ort-node') {
    ort = (await import('onnxruntime-node')) as unknown as typeof ort;
    providers = ['cpu'];
  } else {
    if (kind === 'ort-webgpu') {
      const gpu = await nodeNavigator();
      // dawn.node refuses views of the wasm SharedArrayBuffer in writeBuffer: hand it a copy.
      const proto = (globalThis as unknown as { GPUQueue: { prototype: GPUQueue } }).GPUQueue.prototype, write = proto.writeBuffer;
      proto.writeBuffer = function (this: GPUQueue, buffer: GPUBuffer, offset: number, data: BufferSource | SharedArrayBuffer, dataOffset?: number, size?: number) {
        const view = ArrayBuffer.isView(data) ? data : null;
        if (view && view.buffer instanceof SharedArrayBuffer) data = new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
        return write.call(this, buffer, offset, data as BufferSource, dataOffset, size);
      } as GPUQueue['writeBuffer'];
      void gpu;
    }
    ort = kind === 'ort-webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web');
    // Node's fetch cannot read the worker script by file:// URL, so one thread (a browser would use more).
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmBinary = readFileSync(join(MODULES, 'onnxruntime-web', 'dist', kind === 'ort-webgpu' ? 'ort-wasm-simd-threaded.asyncify.wasm' : 'ort-wasm-simd-threaded.wasm'));
    providers = [kind === 'ort-webgpu' ? 'webgpu' : 'wasm'];
  }
  const sessions = new Map<PeerModel, Promise<import('onnxruntime-web').InferenceSession>>();
  const session = (which: PeerModel) => {
    if (!sessions.has(which)) sessions.set(which, ort.InferenceSession.create(new Uint8Array(readFileSync(which === 'resnet50' ? PEER_FILES.onnx : PEER_FILES.mobilenet)), { executionProviders: providers }));
    return sessions.get(which)!;
  };
  await session('resnet50');
  const pkg = kind === 'ort-node' ? 'onnxruntime-node' : 'onnxruntime-web';
  return {
    describe: `${kind === 'ort-node' ? 'onnxruntime-node' : 'ONNX Runtime Web'} ${version(pkg)} ${{ 'ort-webgpu': 'WebGPU (Node, Dawn)', 'ort-wasm': 'WebAssembly (SIMD, 1 thread)', 'ort-node': 'CPU' }[kind]}`,
    async forward(batch, which) {
      const s = await session(which);
      const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', batchOf(batch, 'nchw', which), [batch, 3, 224, 224]) });
      return (out[s.outputNames[0]].data as Float32Array).slice(0, 1000);
    },
  };
}

const makers: Record<string, () => Promise<Engine>> = {
  glimpse, 'tfjs-webgpu': tfjsWebgpu, 'ort-webgpu': () => onnxRuntime('ort-webgpu'), 'ort-wasm': () => onnxRuntime('ort-wasm'), 'ort-node': () => onnxRuntime('ort-node'),
};

const name = process.argv[2];
const reply = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
try {
  if (!makers[name]) throw new Error(`unknown engine ${name}; engines: ${Object.keys(makers).join(', ')}`);
  const engine = await makers[name]();
  reply({ describe: engine.describe });
  for await (const line of createInterface({ input: process.stdin })) {
    const r = JSON.parse(line) as { method?: 'forward' | 'saliency' | 'ig'; batch?: number; steps?: number; model?: PeerModel };
    const method = r.method ?? 'forward';
    if (method !== 'forward' && !engine[method]) throw new Error(`${name} has no ${method} (inference only)`);
    const t0 = performance.now();
    const out = method === 'forward' ? await engine.forward(r.batch ?? 1, r.model ?? 'resnet50') : method === 'saliency' ? await engine.saliency!() : await engine.ig!(r.steps ?? 50);
    reply({ ms: performance.now() - t0, [method === 'forward' ? 'logits' : 'attributions']: Array.from(out) });
  }
} catch (e) {
  reply({ error: (e as Error).message });
}
process.exit(0); // WebGPU devices would keep the process alive
