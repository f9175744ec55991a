// The plain-PyTorch reference worker (bench/reference/reference.py), driven line by line so that the
// bench can alternate engine and reference runs in one invocation.
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { BENCH_DIR } from './util.ts';

export const PYTHON = process.env.GLIMPSE_PYTHON ?? '/usr/bin/python3';

/**
 * glibc's malloc settings for the worker (the caller's environment wins): allocate from the heap and
 * never give it back. By default PyTorch's CPU tensors of a batch (tens of MB each) are mmapped and
 * unmapped on every forward, and on a VM each first touch of a page is a fault: the faults cost
 * several times the forward itself, until a large backward pass happened to raise malloc's own
 * threshold (docs/performance.md).
 */
const MALLOC_KEEPS = { MALLOC_MMAP_MAX_: '0', MALLOC_TRIM_THRESHOLD_: String(2 ** 36) };

export interface ReferenceWorker {
  describe: { torch: string; threads: number; device: string; models: string[] };
  run(request: Record<string, unknown>): Promise<{ ms: number; shape?: number[] }>;
  close(): void;
}

/** Starts the worker, or says why there is none (no python, no torch). */
export async function startReference(refDir: string, weights50: string): Promise<ReferenceWorker | { missing: string }> {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision, numpy'], { encoding: 'utf8' });
  if (probe.error) return { missing: `${PYTHON} not found` };
  if (probe.status !== 0) return { missing: `${PYTHON} has no torch / torchvision / numpy (Debian: apt-get install python3-torch python3-torchvision)` };
  const child = spawn(PYTHON, [join(BENCH_DIR, 'reference', 'reference.py'), refDir, weights50], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...MALLOC_KEEPS, ...process.env } });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await lines.next();
    if (r.done) throw new Error('the PyTorch reference worker exited');
    return JSON.parse(r.value);
  };
  const describe = (await next()) as ReferenceWorker['describe'];
  return {
    describe,
    async run(request) {
      child.stdin.write(JSON.stringify(request) + '\n');
      const r = await next();
      if (r.error) throw new Error(`PyTorch reference, ${JSON.stringify(request).slice(0, 80)}: ${r.error}`);
      return r as { ms: number; shape?: number[] };
    },
    close() {
      child.stdin.end();
    },
  };
}
