/** A progress bar with ETA on stderr, drawn only when stderr is a terminal (or bin/glimpse.js's filter before one). */
export function progressBar(label: string): { update: (done: number, total: number) => void; done: () => void } {
  const tty = !!process.stderr.isTTY || process.env.GLIMPSE_STDERR_TTY === '1';
  const start = performance.now();
  let drawn = false;
  // Shown at once: the first batch of a long run can take a while.
  if (tty) { process.stderr.write(`\r${label}: starting...`); drawn = true; }
  return {
    update(done, total) {
      if (!tty || total <= 0) return;
      const frac = Math.min(1, done / total);
      const elapsed = (performance.now() - start) / 1000;
      const eta = frac > 0 ? elapsed * (1 / frac - 1) : 0;
      const width = 30, filled = Math.round(frac * width);
      process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${elapsed.toFixed(0)}s elapsed, ETA ${eta.toFixed(0)}s `);
      drawn = true;
    },
    done() {
      if (drawn) process.stderr.write('\n');
    },
  };
}
