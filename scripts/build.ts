// npm run build: the package's dist/. esbuild bundles the three entry points (glimpse, glimpse/node,
// the CLI) with shared chunks and the kernels embedded, leaving every package import to the consumer's
// node_modules; the explorer's page is bundled whole for the browser; tsc writes the declarations.
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { embedKernels, pageBundleOptions } from '../src/io/bundle.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist'), kernels = join(root, 'kernels');
rmSync(dist, { recursive: true, force: true });

await esbuild.build({
  entryPoints: { index: 'src/index.ts', node: 'src/node.ts', cli: 'src/cli/main.ts' },
  absWorkingDir: root, outdir: dist, chunkNames: 'chunks/[name]-[hash]',
  bundle: true, splitting: true, format: 'esm', platform: 'neutral', target: 'es2022',
  packages: 'external', plugins: [embedKernels(kernels)], logLevel: 'warning',
});

const page = join(dist, 'insights');
await esbuild.build({ ...pageBundleOptions(join(root, 'src/insights/page/app.ts'), kernels), outfile: join(page, 'app.js'), minify: true });
for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'src/insights/page', f), join(page, f));

// Declarations: tsc keeps the sources' `.ts` specifiers, which a consumer resolves as `.js`.
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
const rewrite = (dir: string): void => {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) rewrite(p);
    else if (f.endsWith('.d.ts')) writeFileSync(p, readFileSync(p, 'utf8').replace(/((?:from|import)\s*\(?\s*['"]\.{1,2}\/[^'"]*)\.ts(['"])/g, '$1.js$2'));
  }
};
rewrite(join(dist, 'types'));
// The declarations mention WebGPU's types (GPUDevice, GPUBuffer): consumers get them from @webgpu/types.
for (const f of ['index.d.ts', 'node.d.ts']) {
  const p = join(dist, 'types', f);
  writeFileSync(p, `/// <reference types="@webgpu/types" />\n${readFileSync(p, 'utf8')}`);
}
const size = (dir: string): number => readdirSync(dir).reduce((s, f) => s + (statSync(join(dir, f)).isDirectory() ? size(join(dir, f)) : statSync(join(dir, f)).size), 0);
console.log(`dist/: ${(size(dist) / 1e6).toFixed(2)} MB (entry points index.js, node.js, cli.js; insights/; types/)`);
