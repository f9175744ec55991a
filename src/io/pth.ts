import { type HostTensor, type StateDict, bytesAt, halfToFloat } from './host-tensor.ts';
import { type TensorRef, unpickleStateDict } from './pickle.ts';
import { readZipDirectory, readZipEntry } from './zip.ts';

const WIDTH = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 } as const;

function toFloat32(dtype: keyof typeof WIDTH, raw: ArrayBuffer): Float32Array | BigInt64Array {
  switch (dtype) {
    case 'F32': return new Float32Array(raw);
    case 'F64': return Float32Array.from(new Float64Array(raw));
    case 'F16': return halfToFloat(new Uint16Array(raw));
    case 'BF16': { const u = new Uint16Array(raw), o = new Uint32Array(u.length); u.forEach((v, i) => (o[i] = v << 16)); return new Float32Array(o.buffer); }
    case 'I64': return new BigInt64Array(raw);
    case 'I32': return Float32Array.from(new Int32Array(raw));
    case 'I16': return Float32Array.from(new Int16Array(raw));
    case 'I8': return Float32Array.from(new Int8Array(raw));
    case 'U8': case 'BOOL': return Float32Array.from(new Uint8Array(raw));
  }
}

/** Gathers a strided view into a contiguous array. */
function contiguous<T extends Float32Array | BigInt64Array>(src: T, ref: TensorRef): T {
  const n = ref.shape.reduce((a, b) => a * b, 1);
  const expected = ref.shape.map((_, i) => ref.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  if (ref.stride.every((s, i) => s === expected[i] || ref.shape[i] === 1)) return src.slice(ref.offset, ref.offset + n) as T;
  const out = new (src.constructor as { new (n: number): T })(n);
  const idx = new Array(ref.shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let at = ref.offset;
    for (let d = 0; d < idx.length; d++) at += idx[d] * ref.stride[d];
    out[i] = src[at];
    for (let d = idx.length - 1; d >= 0; d--) { if (++idx[d] < ref.shape[d]) break; idx[d] = 0; }
  }
  return out;
}

/**
 * Reads a PyTorch checkpoint as torch.save writes it: a zip holding `<name>/data.pkl` (the pickled
 * state_dict, read by the restricted unpickler) and `<name>/data/<key>` (one raw storage per key).
 */
export async function parsePth(bytes: Uint8Array, what = 'checkpoint'): Promise<StateDict> {
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5) {
    throw new Error(`${what} is a legacy (pre-1.6, non-zip) PyTorch file; re-save it with torch.save(state_dict, path) from a current PyTorch`);
  }
  const entries = readZipDirectory(bytes, what);
  const pkl = [...entries.keys()].find((n) => n.endsWith('/data.pkl') || n === 'data.pkl');
  if (!pkl) throw new Error(`${what} is a zip without data.pkl: not a PyTorch checkpoint`);
  const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
  const refs = unpickleStateDict(await readZipEntry(bytes, entries.get(pkl)!, what), what);
  const storages = new Map<string, Float32Array | BigInt64Array>();
  const out: StateDict = new Map();
  for (const [name, ref] of refs) {
    const s = ref.storage;
    let data = storages.get(s.key);
    if (!data) {
      const entry = entries.get(`${prefix}data/${s.key}`);
      if (!entry) throw new Error(`${what} is corrupt: storage ${s.key} of '${name}' is missing`);
      const raw = await readZipEntry(bytes, entry, what);
      const width = WIDTH[s.dtype];
      if (raw.length < s.numel * width) throw new Error(`${what} is truncated: storage ${s.key} has ${raw.length} bytes, needs ${s.numel * width}`);
      data = toFloat32(s.dtype, bytesAt(raw, 0, s.numel * width));
      storages.set(s.key, data);
    }
    const numel = ref.shape.reduce((a, b) => a * b, 1);
    const last = ref.offset + ref.shape.reduce((a, d, i) => a + (d - 1) * ref.stride[i], 0);
    if (numel > 0 && last >= data.length) throw new Error(`${what} is corrupt: '${name}' reads past its storage`);
    const t: HostTensor = data instanceof BigInt64Array
      ? { dtype: 'I64', shape: ref.shape, data: contiguous(data, ref) }
      : { dtype: 'F32', shape: ref.shape, data: contiguous(data, ref) };
    out.set(name, t);
  }
  return out;
}
