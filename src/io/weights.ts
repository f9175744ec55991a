import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import type { StateDict } from './host-tensor.ts';
import { parseSafetensors, serializeSafetensors } from './safetensors.ts';
import { parsePth } from './pth.ts';
import type { ModelCard } from '../nn/model.ts';

function readBytes(path: string): Uint8Array {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw new Error(`cannot read weights ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

/** Reads a state_dict from .safetensors or a PyTorch .pth/.pt checkpoint (by content, not name). */
export async function readStateDict(path: string): Promise<{ tensors: StateDict; card: ModelCard | null }> {
  const bytes = readBytes(path);
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b) return { tensors: await parsePth(bytes, path), card: null };
  if (bytes.length >= 2 && bytes[0] === 0x80) return { tensors: await parsePth(bytes, path), card: null }; // legacy pickle: parsePth explains
  const { tensors, metadata } = parseSafetensors(bytes, path);
  let card: ModelCard | null = null;
  if (metadata.glimpse) {
    try {
      card = JSON.parse(metadata.glimpse);
    } catch {
      throw new Error(`${path}: its 'glimpse' metadata is not JSON`);
    }
  }
  return { tensors, card };
}

/** Writes a state_dict as safetensors, with the model card in the metadata; atomically (temp file, then rename). */
export function writeStateDict(path: string, tensors: StateDict, card?: ModelCard): void {
  const bytes = serializeSafetensors(tensors, card ? { glimpse: JSON.stringify(card) } : undefined);
  writeFileSync(`${path}.tmp`, bytes);
  renameSync(`${path}.tmp`, path);
}
