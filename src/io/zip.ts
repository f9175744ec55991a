/**
 * A minimal ZIP reader for PyTorch checkpoints (torch.save writes a stored, uncompressed zip; a
 * re-zipped one may use deflate, which DecompressionStream handles). Reads the central directory,
 * so entries are found by name without scanning.
 */
export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
  /** CRC-32 of the uncompressed bytes, as the directory records it. */
  crc: number;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

/** CRC-32 (ZIP's, IEEE 802.3). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function readZipDirectory(bytes: Uint8Array, what: string): Map<string, ZipEntry> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // End of central directory: signature 0x06054b50 within the last 64 KiB + 22 bytes.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error(`${what} is not a zip archive (or is truncated): no end-of-directory record`);
  let count = dv.getUint16(eocd + 10, true);
  let dirOffset = dv.getUint32(eocd + 16, true);
  if (dirOffset === 0xffffffff || count === 0xffff) {
    // ZIP64: the locator sits just before the end record.
    const loc = eocd - 20;
    if (loc < 0 || dv.getUint32(loc, true) !== 0x07064b50) throw new Error(`${what}: corrupt ZIP64 locator`);
    const rec = Number(dv.getBigUint64(loc + 8, true));
    count = Number(dv.getBigUint64(rec + 32, true));
    dirOffset = Number(dv.getBigUint64(rec + 48, true));
  }
  const entries = new Map<string, ZipEntry>();
  let p = dirOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > bytes.length || dv.getUint32(p, true) !== 0x02014b50) throw new Error(`${what} is corrupt: bad central directory entry ${i}`);
    const method = dv.getUint16(p + 10, true), crc = dv.getUint32(p + 16, true);
    let compressedSize = dv.getUint32(p + 20, true), size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true), extraLen = dv.getUint16(p + 30, true), commentLen = dv.getUint16(p + 32, true);
    let localOffset = dv.getUint32(p + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extra field (id 1) carries the sizes and offset that overflowed 32 bits, in this order.
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = dv.getUint16(e, true), len = dv.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        if (size === 0xffffffff) { size = Number(dv.getBigUint64(q, true)); q += 8; }
        if (compressedSize === 0xffffffff) { compressedSize = Number(dv.getBigUint64(q, true)); q += 8; }
        if (localOffset === 0xffffffff) { localOffset = Number(dv.getBigUint64(q, true)); }
      }
      e += 4 + len;
    }
    entries.set(name, { name, method, compressedSize, size, localOffset, crc });
    p = eEnd + commentLen;
  }
  return entries;
}

/** The bytes of one entry (a view into `bytes` for stored entries), checked against the directory's CRC-32. */
export async function readZipEntry(bytes: Uint8Array, entry: ZipEntry, what: string): Promise<Uint8Array> {
  const data = await entryBytes(bytes, entry, what);
  if (crc32(data) !== entry.crc) throw new Error(`${what} is corrupt: ${entry.name} does not match its CRC-32 (the file was damaged or altered after it was written)`);
  return data;
}

async function entryBytes(bytes: Uint8Array, entry: ZipEntry, what: string): Promise<Uint8Array> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = entry.localOffset;
  if (h + 30 > bytes.length || dv.getUint32(h, true) !== 0x04034b50) throw new Error(`${what} is corrupt: bad local header for ${entry.name}`);
  const start = h + 30 + dv.getUint16(h + 26, true) + dv.getUint16(h + 28, true);
  if (start + entry.compressedSize > bytes.length) throw new Error(`${what} is truncated: ${entry.name} extends past the end of the file`);
  const data = bytes.subarray(start, start + entry.compressedSize);
  if (entry.method === 0) return data;
  if (entry.method === 8) {
    const stream = new Blob([data.slice()]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
    const out = new Uint8Array(await new Response(stream).arrayBuffer());
    if (out.length !== entry.size) throw new Error(`${what} is corrupt: ${entry.name} inflates to ${out.length} bytes, expected ${entry.size}`);
    return out;
  }
  throw new Error(`${what}: ${entry.name} uses zip compression method ${entry.method}; only stored and deflate are supported`);
}
