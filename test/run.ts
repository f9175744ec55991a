// Runs every test/*.test.ts (or those whose names contain an argument) with uvu in one process, so
// that one GPU device serves them all, then prints the totals as one line `N passed, N failed`.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type Result = [errors: string | true, ran: number, skipped: number, total: number];
const g = globalThis as unknown as { UVU_DEFER: number; UVU_QUEUE: (string | null | (() => Promise<Result>))[][]; UVU_INDEX: number };
g.UVU_DEFER = 1;
g.UVU_QUEUE = [];
// uvu reads UVU_DEFER when it is first imported, so it (and the tests) load only now.
const { exec } = await import('uvu');
const { closeGpu } = await import('./helpers.ts');

const dir = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(dir).filter((f) => f.endsWith('.test.ts') && (!filters.length || filters.some((x) => f.includes(x)))).sort();
for (const [i, f] of files.entries()) {
  g.UVU_QUEUE.push([f]);
  g.UVU_INDEX = i;
  await import(pathToFileURL(join(dir, f)).href);
}
let passed = 0, failed = 0;
for (const group of g.UVU_QUEUE) {
  for (let i = 1; i < group.length; i++) {
    const run = group[i] as () => Promise<Result>;
    group[i] = async () => {
      const r = await run();
      passed += r[1];
      failed += r[3] - r[1] - r[2];
      return r;
    };
  }
}
await exec(false);
await closeGpu();
console.log(`${passed} passed, ${failed} failed`);
if (failed) process.exitCode = 1;
