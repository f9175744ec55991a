import { type HostTensor, type StateDict, bytesAt, halfToFloat } from './host-tensor.ts';

/**
 * safetensors: an 8-byte little-endian header length, a JSON header mapping each name to its
 * dtype, shape and data_offsets (plus optional `__metadata__`), then the raw little-endian data.
 * F32, F16 (widened to F32), F64 (narrowed) and I64 are read; anything malformed is a clear error.
 */
export function parseSafetensors(bytes: Uint8Array, name = 'safetensors file'): { tensors: StateDict; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new Error(`${name} is truncated: ${bytes.length} bytes, not even a header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(dv.getBigUint64(0, true));
  if (headerLength > bytes.length - 8 || headerLength > 100_000_000) {
    throw new Error(`${name} is corrupt or truncated: header of ${headerLength} bytes in a ${bytes.length}-byte file`);
  }
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (e) {
    throw new Error(`${name} is corrupt: its header is not JSON (${(e as Error).message})`);
  }
  const base = 8 + headerLength;
  const tensors: StateDict = new Map();
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  for (const [key, entry] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    const { dtype, shape, data_offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (!Array.isArray(shape) || !Array.isArray(data_offsets)) throw new Error(`${name}: entry '${key}' lacks shape or data_offsets`);
    const [start, end] = data_offsets;
    const count = shape.reduce((a, b) => a * b, 1);
    const width = { F32: 4, F16: 2, F64: 8, I64: 8 }[dtype];
    if (!width) throw new Error(`${name}: entry '${key}' has dtype ${dtype}; supported are F32, F16, F64 and I64`);
    if (!(0 <= start && start <= end && base + end <= bytes.length)) {
      throw new Error(`${name} is truncated or corrupt: '${key}' lies at bytes ${start}..${end} past the ${bytes.length - base} data bytes`);
    }
    if (end - start !== count * width) throw new Error(`${name}: '${key}' holds ${end - start} bytes, but [${shape.join(', ')}] ${dtype} needs ${count * width}`);
    const raw = bytesAt(bytes, base + start, end - start);
    let t: HostTensor;
    if (dtype === 'F32') t = { dtype: 'F32', shape, data: new Float32Array(raw) };
    else if (dtype === 'F16') t = { dtype: 'F32', shape, data: halfToFloat(new Uint16Array(raw)) };
    else if (dtype === 'F64') t = { dtype: 'F32', shape, data: Float32Array.from(new Float64Array(raw)) };
    else t = { dtype: 'I64', shape, data: new BigInt64Array(raw) };
    tensors.set(key, t);
  }
  return { tensors, metadata };
}

/** Writes tensors (and string metadata) in the safetensors format, keys sorted as the reference library does. */
export function serializeSafetensors(tensors: StateDict | Record<string, HostTensor>, metadata?: Record<string, string>): Uint8Array {
  const entries = (tensors instanceof Map ? [...tensors] : Object.entries(tensors)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [key, t] of entries) {
    const n = t.data.byteLength;
    header[key] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const head = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20); // spaces align the data to 8 bytes
  head.set(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const [, t] of entries) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
