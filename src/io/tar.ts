/** Reads the regular files of a (ustar) tar archive: what `npm pack` produces. */
export function readTar(bytes: Uint8Array, what: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const dec = new TextDecoder();
  const field = (at: number, len: number) => dec.decode(bytes.subarray(at, at + len)).replace(/\0.*$/s, '');
  let p = 0;
  while (p + 512 <= bytes.length) {
    if (bytes.subarray(p, p + 512).every((b) => b === 0)) break;
    const name = field(p, 100), prefix = field(p + 345, 155);
    const size = parseInt(field(p + 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(bytes[p + 156] || 48);
    if (!Number.isFinite(size) || p + 512 + size > bytes.length) throw new Error(`${what} is a corrupt or truncated tar archive`);
    if (type === '0' || type === '\0') files.set(prefix ? `${prefix}/${name}` : name, bytes.subarray(p + 512, p + 512 + size));
    p += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}
