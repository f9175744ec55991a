// Bundling the engine with esbuild (Node, at build time or in the explorer's server): the kernels'
// texts go into the bundle, so that nothing reads kernels/ at run time.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildOptions, Plugin } from 'esbuild';

/** Every kernels/*.wgsl by file name (without .wgsl). */
export function readKernelTexts(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).filter((f) => f.endsWith('.wgsl')).sort().map((f) => [f.slice(0, -5), readFileSync(join(dir, f), 'utf8')]));
}

/** An esbuild plugin that fills src/gpu/kernel-texts.ts with the texts of `kernelDir`. */
export function embedKernels(kernelDir: string): Plugin {
  return {
    name: 'glimpse-embed-kernels',
    setup(build) {
      build.onLoad({ filter: /[\\/]gpu[\\/]kernel-texts\.ts$/ }, () => ({
        contents: `export const KERNEL_TEXTS = ${JSON.stringify(readKernelTexts(kernelDir))};\n`,
        loader: 'js',
      }));
    },
  };
}

/** esbuild's options for a page's script (`entry`): the engine bundled for browsers, kernels embedded. Callers add where it goes and how. */
export function pageBundleOptions(entry: string, kernelDir: string): BuildOptions {
  return { entryPoints: [entry], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', plugins: [embedKernels(kernelDir)], logLevel: 'warning' };
}
