import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import type { StateDict } from './host-tensor.ts';
import { serializeSafetensors } from './safetensors.ts';
import { stateDictFromBytes } from './state-dict.ts';
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
  return stateDictFromBytes(readBytes(path), path);
}

/** Writes a state_dict as safetensors, with the model card in the metadata; atomically (temp file, then rename). */
export function writeStateDict(path: string, tensors: StateDict, card?: ModelCard): void {
  const bytes = serializeSafetensors(tensors, card ? { glimpse: JSON.stringify(card) } : undefined);
  writeFileSync(`${path}.tmp`, bytes);
  renameSync(`${path}.tmp`, path);
}
