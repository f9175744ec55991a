import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GpuContext } from '../gpu/device.ts';
import { type KernelSource, embeddedKernelSource } from '../gpu/kernel.ts';
import { KERNEL_TEXTS } from '../gpu/kernel-texts.ts';

const KERNEL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'kernels');

/** The kernels a build embedded, else kernels/*.wgsl read once per file (running from source). */
export function nodeKernelSource(dir?: string): KernelSource {
  if (KERNEL_TEXTS && dir === undefined) return embeddedKernelSource();
  dir ??= KERNEL_DIR;
  const cache = new Map<string, string>();
  return (file) => {
    let text = cache.get(file);
    if (text === undefined) {
      try {
        text = readFileSync(join(dir, `${file}.wgsl`), 'utf8');
      } catch {
        throw new Error(`kernel file kernels/${file}.wgsl not found in ${dir}`);
      }
      cache.set(file, text);
    }
    return text;
  };
}

/** A GPU context on Node through Dawn's bindings (the `webgpu` package). */
export async function createNodeGpu(opts: { profile?: boolean } = {}): Promise<GpuContext> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp'; // silences a Vulkan loader warning on headless machines
  // lavapipe (read when the Vulkan instance starts) shares each dispatch among LP_NUM_THREADS threads,
  // one per core by default; on 2 cores 16 threads ran whole IG batches 12-28% faster, the work cut
  // finer than the cores so that a core the process's other threads hold up delays less of it
  // (docs/performance.md, "Threads"). No result changes: every kernel writes each output once, no atomics.
  // The caller's setting wins.
  process.env.LP_NUM_THREADS ??= String(Math.max(16, availableParallelism()));
  let webgpu: typeof import('webgpu');
  try {
    webgpu = await import('webgpu');
  } catch (e) {
    throw new Error(`the 'webgpu' package (Dawn for Node, an optional peer of glimpse) failed to load: ${(e as Error).message}. Run \`npm install webgpu\`.`);
  }
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create([]);
  return GpuContext.create({ gpu, source: nodeKernelSource(), profile: opts.profile });
}
