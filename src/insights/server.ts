/**
 * The explorer's HTTP server (Node's built-in http): the page and its bundle, the JSON API under /api/,
 * and the binary endpoints the in-browser mode reads (kernels, weights, an example's tensors). Only
 * fixed routes and example indices are served: no path from a request ever reaches the file system.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ROOT } from '../io/models.ts';
import { serializeSafetensors } from '../io/safetensors.ts';
import { RequestError } from './methods.ts';
import { AbortedError } from './queue.ts';
import type { AttributionVisualizer } from './visualizer.ts';

const PAGE_DIR = join(ROOT, 'src', 'insights', 'page');
const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

let bundle: Promise<string> | null = null;
/** The page's script: src/insights/page/app.ts and the engine, bundled once per process by esbuild. */
function pageBundle(): Promise<string> {
  return (bundle ??= import('esbuild').then(async (esbuild) => {
    const r = await esbuild.build({
      entryPoints: [join(PAGE_DIR, 'app.ts')], bundle: true, format: 'esm', platform: 'browser', target: 'es2022',
      write: false, minify: false, sourcemap: 'inline', logLevel: 'silent',
    });
    return r.outputFiles[0].text;
  }).catch((e) => {
    bundle = null;
    throw new Error(`building the page's script failed: ${(e as Error).message}`);
  }));
}

let kernels: string | null = null;
function kernelTexts(): string {
  const dir = join(ROOT, 'kernels');
  return (kernels ??= JSON.stringify(Object.fromEntries(readdirSync(dir).filter((f) => f.endsWith('.wgsl')).map((f) => [f.slice(0, -5), readFileSync(join(dir, f), 'utf8')]))));
}

const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('application/json')) return reject(new HttpError(415, `send the request body as application/json, not '${type}'`));
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY) return reject(new HttpError(413, `the request body is ${declared} bytes; the limit is ${MAX_BODY}`));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, `the request body exceeds ${MAX_BODY} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      try {
        const v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('the body must be a JSON object');
        resolve(v);
      } catch (e) {
        reject(new HttpError(400, `the request body is not valid JSON: ${(e as Error).message}`));
      }
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: string | Uint8Array, type: string): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(body);
}
const json = (res: ServerResponse, status: number, v: unknown) => send(res, status, JSON.stringify(v), 'application/json; charset=utf-8');

async function route(vis: AttributionVisualizer, req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const method = req.method ?? 'GET';
  const only = (m: string) => {
    if (method !== m) throw new HttpError(405, `${path} takes ${m}, not ${method}`);
  };
  if (STATIC[path]) {
    only('GET');
    return send(res, 200, readFileSync(join(PAGE_DIR, STATIC[path].file)), STATIC[path].type);
  }
  if (path === '/app.js') return only('GET'), send(res, 200, await pageBundle(), 'text/javascript; charset=utf-8');
  if (path === '/api/init') return only('GET'), json(res, 200, await vis.init());
  if (path === '/api/progress') return only('GET'), json(res, 200, vis.queue.status());
  if (path === '/api/fetch') return only('POST'), json(res, 200, await vis.fetch(await readBody(req), signal));
  if (path === '/api/attribute') return only('POST'), json(res, 200, await vis.attribute(await readBody(req), signal));
  if (path === '/api/kernels') return only('GET'), send(res, 200, kernelTexts(), 'application/json; charset=utf-8');
  let m = /^\/api\/models\/(\d{1,4})\/weights$/.exec(path);
  if (m) {
    only('GET');
    const net = vis.modelForBrowser(Number(m[1]));
    return send(res, 200, serializeSafetensors(net.stateDict(), { arch: net.arch, variant: net.variant, numClasses: String(net.numClasses) }), 'application/octet-stream');
  }
  m = /^\/api\/examples\/(\d{1,9})\/tensors$/.exec(path);
  if (m) {
    only('GET');
    const t = await vis.tensors(Number(m[1]));
    const host = (a: typeof t.input) => ({ dtype: 'F32' as const, shape: [1, ...a.shape], data: Float32Array.from(a.data) });
    return send(res, 200, serializeSafetensors({ input: host(t.input), baseline: host(t.baseline), display: host(t.display) }), 'application/octet-stream');
  }
  throw new HttpError(404, `no such page: ${path}`);
}

/** Starts the server; resolves once it listens. Binds to 127.0.0.1 unless a host is given. */
export function startServer(vis: AttributionVisualizer, opts: { port?: number; host?: string } = {}): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    // A client that goes away cancels its queued or running GPU work.
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    route(vis, req, res, abort.signal).catch((e: Error) => {
      if (e instanceof AbortedError) return;
      const status = e instanceof HttpError ? e.status : e instanceof RequestError ? 400 : 500;
      if (status === 500) console.error(`insights: ${req.method} ${req.url}: ${e.stack ?? e.message}`);
      json(res, status, { error: e.message });
    });
  });
  server.requestTimeout = 0; // attributions on a software GPU can take minutes
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new Error(`port ${opts.port} is in use; pick another with --port`) : e));
    server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', () => {
      const a = server.address() as AddressInfo;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve({
        url: `http://${host}:${a.port}/`,
        close: () => new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
      });
    });
  });
}
