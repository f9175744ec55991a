/** A tensor on the CPU, as weight files hold them. Integer entries (num_batches_tracked) keep their type. */
export interface HostTensor {
  dtype: 'F32' | 'I64';
  shape: number[];
  data: Float32Array | BigInt64Array;
}

export type StateDict = Map<string, HostTensor>;

export function f32(shape: number[], data: Float32Array): HostTensor {
  return { dtype: 'F32', shape, data };
}

/** Converts IEEE half floats to float32. */
export function halfToFloat(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const v = h[i], s = v & 0x8000 ? -1 : 1, e = (v >> 10) & 0x1f, m = v & 0x3ff;
    out[i] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}

/** Copies `byteLength` bytes at `offset` into a fresh, aligned buffer. */
export function bytesAt(src: Uint8Array, offset: number, byteLength: number): ArrayBuffer {
  return src.slice(offset, offset + byteLength).buffer;
}
