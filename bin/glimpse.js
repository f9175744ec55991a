#!/usr/bin/env node
// The CLI is TypeScript run through tsx's loader, so the package needs no build step.
import { spawn } from 'node:child_process';
import { register } from 'tsx/esm/api';

// The explorer is a long-running server. On a CPU adapter (lavapipe) GPU buffers are host memory, and
// glibc keeps freed blocks below its (self-raising) mmap threshold in the heap: after a few IG jobs at
// 224 the RSS stays at 1.8 GB although the pool gave every buffer back. A fixed threshold returns
// large blocks to the system (0.93 GB, flat). glibc reads it at start, so the server runs in a child.
if (process.argv[2] === 'insights' && process.platform === 'linux' && !process.env.MALLOC_MMAP_THRESHOLD_) {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '65536' } });
  for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => child.kill(s));
  child.on('exit', (code) => process.exit(code ?? 1));
} else {
  register();
  await import('../src/cli/main.ts');
}
