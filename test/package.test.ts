// The npm package as a consumer gets it: `npm pack` (which builds dist/), the tarball installed into a
// fresh project, the API run there with plain node from TypeScript (type-checked, compiled) and from
// JavaScript, and a browser bundle of `glimpse` that must not need any Node built-in.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REF_DIR } from './refdata.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURE = join(ROOT, 'test', 'fixtures', 'consumer');
const version = (name: string) => JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version as string;
function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  } catch (e) {
    const r = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${r.message.split('\n')[0]}\n${r.stdout ?? ''}${r.stderr ?? ''}`.slice(0, 4000));
  }
}

test('npm pack, installed in a fresh project: glimpse and glimpse/node from TypeScript and JavaScript with plain node, the CLI and its explorer; glimpse bundles for the browser', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-consumer-'));
  try {
    run('npm', ['pack', '--pack-destination', dir, '--silent'], ROOT);
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
    const listed = run('tar', ['-tzf', join(dir, tgz)], dir).split('\n');
    assert.ok(listed.includes('package/dist/index.js') && listed.includes('package/dist/types/node.d.ts'), 'the tarball has dist/');
    assert.not.ok(listed.some((f) => f.startsWith('package/src/') || f.startsWith('package/test/') || f.startsWith('package/kernels/')), 'no sources, tests or loose kernels ship');

    for (const f of ['main.ts', 'main.mjs', 'browser.js', 'tsconfig.json']) copyFileSync(join(FIXTURE, f), join(dir, f));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    // Everything from npm's cache when it holds it (this checkout's install filled it).
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', `./${tgz}`, `webgpu@${version('webgpu')}`, `@types/node@${version('@types/node')}`, `esbuild@${version('esbuild')}`], dir);

    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    run(process.execPath, [tsc, '-p', 'tsconfig.json'], dir); // type-checks main.ts against the shipped declarations
    const weights = join(REF_DIR, 'resnet18_seed0.pth'), refs = join(REF_DIR, 'resnet18_chelsea_64.safetensors');
    const ts = JSON.parse(run(process.execPath, ['build/main.js', weights, refs], dir).trim().split('\n').pop()!);
    for (const k of ['saliency', 'ig', 'occlusion', 'gradcam']) assert.ok(ts[k] < 1e-3, `${k}: largest difference from Captum ${ts[k]}`);
    assert.ok(ts.figure[0] >= 224 && ts.figure[1] >= 224, `a figure at least 224 pixels wide and high: ${ts.figure}`);
    const js = JSON.parse(run(process.execPath, ['main.mjs', weights, refs], dir).trim().split('\n').pop()!);
    assert.ok(js.saliency < 1e-3, `JavaScript saliency: ${js.saliency}`);

    // The packaged CLI (dist/cli.js through bin/glimpse.js), and its explorer serving the prebuilt page.
    const top = run(process.execPath, ['node_modules/.bin/glimpse', 'predict', '--weights', weights, '--arch', 'resnet18', '--input', `${refs}:input`, '--top', '1'], dir);
    assert.match(top, /^\s*\d+\s+\S/, 'predict prints a class');
    const M = join(REF_DIR, 'models');
    const explorer = spawn(process.execPath, ['node_modules/.bin/glimpse', 'insights', '--model', join(M, 'wine_mlp.onnx'), '--csv', join(M, 'wine.csv'), '--port', '0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      explorer.stdout.on('data', (d) => (out += d));
      const t0 = Date.now();
      while (!/http:\/\/127\.0\.0\.1:\d+\//.test(out) && explorer.exitCode === null && Date.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 100));
      const url = /http:\/\/127\.0\.0\.1:\d+\//.exec(out)?.[0];
      if (!url) throw new Error(`the packaged explorer printed no URL: ${out}`);
      const page = await fetch(`${url}app.js`);
      assert.is(page.status, 200);
      assert.ok((await page.text()).includes('@compute'), "the page's bundle carries the kernels");
    } finally {
      explorer.kill('SIGINT');
    }

    // A browser bundle: esbuild fails on any node: import (or fs, path...) reachable from `glimpse`.
    run(process.execPath, ['-e', `require('esbuild').buildSync({ entryPoints: ['browser.js'], bundle: true, platform: 'browser', format: 'esm', outfile: 'out/browser.js', logLevel: 'error' })`], dir);
    const bundle = readFileSync(join(dir, 'out', 'browser.js'), 'utf8');
    assert.ok(bundle.includes('fn main') || bundle.includes('@compute'), 'the bundle carries the WGSL kernels');
    assert.not.ok(/from\s*["']node:|require\(["']node:/.test(bundle), 'no Node built-in in the browser bundle');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
