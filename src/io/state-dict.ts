import type { StateDict } from './host-tensor.ts';
import { parseSafetensors } from './safetensors.ts';
import { parsePth } from './pth.ts';
import type { ModelCard } from '../nn/model.ts';

/**
 * A state_dict from the bytes of a .safetensors file or a PyTorch .pth/.pt checkpoint (told apart by
 * content, not name), with the model card a Glimpse-written .safetensors carries in its metadata.
 */
export async function stateDictFromBytes(bytes: Uint8Array, what = 'weights'): Promise<{ tensors: StateDict; card: ModelCard | null }> {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b) return { tensors: await parsePth(bytes, what), card: null };
  if (bytes.length >= 2 && bytes[0] === 0x80) return { tensors: await parsePth(bytes, what), card: null }; // legacy pickle: parsePth explains
  const { tensors, metadata } = parseSafetensors(bytes, what);
  let card: ModelCard | null = null;
  if (metadata.glimpse) {
    try {
      card = JSON.parse(metadata.glimpse);
    } catch {
      throw new Error(`${what}: its 'glimpse' metadata is not JSON`);
    }
  }
  return { tensors, card };
}
