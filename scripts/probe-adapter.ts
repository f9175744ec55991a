// Prints the WebGPU adapter that Glimpse would use, or explains why there is none (exit 1).
import { createNodeGpu } from '../src/io/node-gpu.ts';

try {
  const ctx = await createNodeGpu();
  console.log(ctx.adapterDescription);
  ctx.destroy();
} catch (e) {
  console.error((e as Error).message);
  process.exitCode = 1;
}
