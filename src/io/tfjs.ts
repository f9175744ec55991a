import type { StateDict } from './host-tensor.ts';

interface WeightSpec { name: string; shape: number[]; dtype: string }
interface ModelJson {
  format?: string;
  modelTopology?: unknown;
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

/**
 * Reads a TF.js layers model: model.json's weightsManifest names each weight, its shape and dtype,
 * laid end to end across the shards of its group. `readShard` returns a shard's bytes by path.
 */
export async function parseTfjsWeights(modelJson: string, readShard: (path: string) => Promise<Uint8Array>, what = 'model.json'): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  let model: ModelJson;
  try {
    model = JSON.parse(modelJson);
  } catch (e) {
    throw new Error(`${what} is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(model.weightsManifest)) throw new Error(`${what} has no weightsManifest: not a TF.js layers model`);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const group of model.weightsManifest) {
    const shards = await Promise.all(group.paths.map(readShard));
    const total = shards.reduce((n, s) => n + s.length, 0);
    const all = new Uint8Array(total);
    let at = 0;
    for (const s of shards) { all.set(s, at); at += s.length; }
    let offset = 0;
    for (const w of group.weights) {
      if (w.dtype !== 'float32') throw new Error(`${what}: weight ${w.name} is ${w.dtype}; only float32 weights are supported`);
      const n = w.shape.reduce((a, b) => a * b, 1);
      if (offset + 4 * n > total) throw new Error(`${what}: the shards are truncated (${w.name} needs bytes up to ${offset + 4 * n}, the shards hold ${total})`);
      out.set(w.name, { shape: w.shape, data: new Float32Array(all.slice(offset, offset + 4 * n).buffer) });
      offset += 4 * n;
    }
    if (offset !== total) throw new Error(`${what}: the shards hold ${total} bytes but the manifest describes ${offset}`);
  }
  return out;
}

/** HWIO -> OIHW, optionally reversing the input channels. */
function convKernel(k: { shape: number[]; data: Float32Array }, reverseInputs = false): { shape: number[]; data: Float32Array } {
  const [H, W, I, O] = k.shape;
  const out = new Float32Array(k.data.length);
  for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) {
    const ii = reverseInputs ? I - 1 - i : i;
    out[((o * I + ii) * H + h) * W + w] = k.data[((h * W + w) * I + i) * O + o];
  }
  return { shape: [O, I, H, W], data: out };
}

/**
 * Keras' ResNet50 (v1, "caffe" weights) under torchvision's names, as the references were made:
 * conv kernels HWIO -> OIHW; each conv bias folded into the running mean of the BatchNorm that follows
 * (BN(conv(x) + b) = BN'(conv(x)) with mean' = mean - b); BatchNorm eps 1e-3 moved into the variance
 * (var' = var + 1e-3 - 1e-5, so torchvision's eps 1e-5 gives the same scale); conv1's input channels
 * reversed, so the model takes RGB instead of Keras' BGR; the Dense kernel [in, out] transposed. The
 * softmax of the Keras head is left out: the model returns logits.
 */
export function kerasResNet50ToTorchvision(keras: Map<string, { shape: number[]; data: Float32Array }>): StateDict {
  const get = (n: string) => {
    const t = keras.get(n);
    if (!t) throw new Error(`the TF.js model has no weight '${n}': not Keras' ResNet50`);
    return t;
  };
  const sd: StateDict = new Map();
  const put = (name: string, t: { shape: number[]; data: Float32Array }) => sd.set(name, { dtype: 'F32', shape: t.shape, data: t.data });
  const convBn = (torchConv: string, torchBn: string, kerasConv: string, kerasBn: string, reverse = false) => {
    put(`${torchConv}.weight`, convKernel(get(`${kerasConv}/kernel`), reverse));
    const bias = get(`${kerasConv}/bias`).data;
    const mean = get(`${kerasBn}/moving_mean`).data, variance = get(`${kerasBn}/moving_variance`).data;
    const c = bias.length;
    put(`${torchBn}.weight`, get(`${kerasBn}/gamma`));
    put(`${torchBn}.bias`, get(`${kerasBn}/beta`));
    put(`${torchBn}.running_mean`, { shape: [c], data: mean.map((m, i) => m - bias[i]) });
    put(`${torchBn}.running_var`, { shape: [c], data: variance.map((v) => v + 1e-3 - 1e-5) });
  };
  convBn('conv1', 'bn1', 'conv1', 'bn_conv1', true);
  [3, 4, 6, 3].forEach((blocks, li) => {
    const stage = li + 2;
    for (let b = 0; b < blocks; b++) {
      const k = `${stage}${'abcdef'[b]}`, t = `layer${li + 1}.${b}`;
      convBn(`${t}.conv1`, `${t}.bn1`, `res${k}_branch2a`, `bn${k}_branch2a`);
      convBn(`${t}.conv2`, `${t}.bn2`, `res${k}_branch2b`, `bn${k}_branch2b`);
      convBn(`${t}.conv3`, `${t}.bn3`, `res${k}_branch2c`, `bn${k}_branch2c`);
      if (b === 0) convBn(`${t}.downsample.0`, `${t}.downsample.1`, `res${k}_branch1`, `bn${k}_branch1`);
    }
  });
  const fc = get('fc1000/kernel');
  const [I, O] = fc.shape;
  const w = new Float32Array(I * O);
  for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) w[o * I + i] = fc.data[i * O + o];
  put('fc.weight', { shape: [O, I], data: w });
  put('fc.bias', get('fc1000/bias'));
  return sd;
}
