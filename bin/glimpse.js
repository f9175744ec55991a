#!/usr/bin/env node
// The CLI: from a checkout the TypeScript sources through tsx's loader, from an installed package
// the build in dist/ (npm run build).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const DAWN_NOTICE = /^Warning: maxDynamic\w+PerPipelineLayout artificially reduced/;

// Two reasons to run the CLI in a child process:
// - The explorer is a long-running server. On a CPU adapter (lavapipe) GPU buffers are host memory,
//   and glibc keeps freed blocks below its (self-raising) mmap threshold in the heap: after a few IG
//   jobs at 224 the RSS stays at 1.8 GB although the pool gave every buffer back. A fixed threshold
//   returns large blocks to the system (0.93 GB, flat). glibc reads it at start.
// - Dawn prints notices about its own limits straight to stderr when it opens an adapter; on a
//   terminal they are noise, so the child's stderr passes through a filter (GLIMPSE_STDERR_TTY tells
//   the child that a terminal is behind it, for the progress bars).
const malloc = process.argv[2] === 'insights' && process.platform === 'linux' && !process.env.MALLOC_MMAP_THRESHOLD_;
const filter = !!process.stderr.isTTY && !process.env.GLIMPSE_CHILD;
if (malloc || filter) {
  const env = { ...process.env, GLIMPSE_CHILD: '1', ...(malloc ? { MALLOC_MMAP_THRESHOLD_: '65536' } : {}), ...(filter ? { GLIMPSE_STDERR_TTY: '1' } : {}) };
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: ['inherit', 'inherit', filter ? 'pipe' : 'inherit', 'ipc'], env });
  if (filter) {
    let rest = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop();
      for (const line of lines) if (!DAWN_NOTICE.test(line)) process.stderr.write(`${line}\n`);
      // A progress bar redraws its line without a newline: pass it on at once, unless it may be a notice's start.
      if (rest && !'Warning: maxDynamic'.startsWith(rest) && !rest.startsWith('Warning: maxDynamic')) {
        process.stderr.write(rest);
        rest = '';
      }
    });
    child.stderr.on('end', () => rest && process.stderr.write(rest));
  }
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => child.kill(s));
  child.on('close', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
} else {
  // A child whose parent is gone (killed, even with SIGKILL) stops too.
  if (process.env.GLIMPSE_CHILD && process.channel) {
    process.channel.unref(); // the channel alone must not keep the process alive
    process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  }
  if (existsSync(source)) {
    const { register } = await import('tsx/esm/api');
    register();
    await import('../src/cli/main.ts');
  } else {
    await import('../dist/cli.js');
  }
}
