/**
 * The explorer's HTTP server (Node's built-in http): the page and its bundle, the JSON API under /api/,
 * and the binary endpoints the in-browser mode reads (weights, an example's tensors). Only
 * fixed routes and example indices are served: no path from a request ever reaches the file system.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ROOT } from '../io/models.ts';
import { pageBundleOptions } from '../io/bundle.ts';
import { GraphModel } from '../nn/graph.ts';
import { serializeSafetensors } from '../io/safetensors.ts';
import { RequestError } from './methods.ts';
import { AbortedError } from './queue.ts';
import type { AttributionVisualizer } from './visualizer.ts';

// From source, the page is bundled on first request; an installed package ships it built (scripts/build.ts).
const SOURCE_PAGE = join(ROOT, 'src', 'insights', 'page');
const FROM_SOURCE = existsSync(join(SOURCE_PAGE, 'app.ts'));
const PAGE_DIR = FROM_SOURCE ? SOURCE_PAGE : join(ROOT, 'dist', 'insights');
const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

let bundle: Promise<string> | null = null;
/** The page's script: src/insights/page/app.ts and the engine (kernels embedded), bundled once per process. */
function pageBundle(): Promise<string> {
  if (!FROM_SOURCE) return (bundle ??= Promise.resolve(readFileSync(join(PAGE_DIR, 'app.js'), 'utf8')));
  return (bundle ??= import('esbuild').then(async (esbuild) => {
    const r = await esbuild.build({ ...pageBundleOptions(join(PAGE_DIR, 'app.ts'), join(ROOT, 'kernels')), write: false, sourcemap: 'inline', logLevel: 'silent' });
    return r.outputFiles[0].text;
  }).catch((e) => {
    bundle = null;
    throw new Error(`building the page's script failed: ${(e as Error).message}`);
  }));
}

const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** Bytes of an oversized body read and dropped after the 413 (so the client reads the answer, not a reset), and for how long. */
const DRAIN_BYTES = 16 * MAX_BODY, DRAIN_MS = 5000;

/** Reads the rest of a refused body for a while, then closes the connection. */
function drain(req: IncomingMessage, res: ServerResponse): void {
  res.shouldKeepAlive = false;
  let dropped = 0;
  const stop = () => req.destroy();
  const timer = setTimeout(stop, DRAIN_MS);
  req.removeAllListeners('data');
  req.on('data', (c: Buffer) => { if ((dropped += c.length) > DRAIN_BYTES) stop(); });
  req.on('end', () => clearTimeout(timer));
  req.on('close', () => clearTimeout(timer));
  req.resume();
}

/** A client that went away while sending its request: nothing to answer, nothing to log. */
class ClientGone extends Error {}

function readBody(req: IncomingMessage, res: ServerResponse): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const type = req.headers['content-type'] ?? '';
    if (type.split(';')[0].trim().toLowerCase() !== 'application/json') return reject(new HttpError(415, `send the request body as application/json, not '${type}'`));
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY) {
      drain(req, res);
      return reject(new HttpError(413, `the request body is ${declared} bytes; the limit is ${MAX_BODY}`));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        drain(req, res);
        reject(new HttpError(413, `the request body exceeds ${MAX_BODY} bytes`));
      } else chunks.push(c);
    });
    req.on('aborted', () => reject(new ClientGone()));
    req.on('end', () => {
      try {
        const v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('the body must be a JSON object');
        resolve(v);
      } catch (e) {
        reject(new HttpError(400, `the request body is not valid JSON: ${(e as Error).message}`));
      }
    });
    req.on('error', () => reject(new ClientGone()));
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
  if (path === '/api/progress') return only('GET'), json(res, 200, { ...vis.queue.status(), memory: vis.memory() });
  if (path === '/api/fetch') return only('POST'), json(res, 200, await vis.fetch(await readBody(req, res), signal));
  if (path === '/api/attribute') return only('POST'), json(res, 200, await vis.attribute(await readBody(req, res), signal));
  let m = /^\/api\/models\/(\d{1,4})\/weights$/.exec(path);
  if (m) {
    only('GET');
    const net = vis.modelForBrowser(Number(m[1]));
    if (net instanceof GraphModel) return send(res, 200, Buffer.from(net.sourceBytes!), 'application/octet-stream');
    return send(res, 200, serializeSafetensors(net.stateDict(), { arch: net.arch, variant: net.variant, numClasses: String(net.numClasses) }), 'application/octet-stream');
  }
  m = /^\/api\/examples\/(\d{1,9})\/tensors$/.exec(path);
  if (m) {
    only('GET');
    const t = await vis.tensors(Number(m[1]));
    const host = (a: typeof t.input) => ({ dtype: 'F32' as const, shape: [1, ...a.shape], data: Float32Array.from(a.data) });
    const shown = Object.fromEntries(t.shown.map((a, k) => [`shown.${k}`, host(a)]));
    return send(res, 200, serializeSafetensors({ input: host(t.input), baseline: host(t.baseline), ...shown }), 'application/octet-stream');
  }
  throw new HttpError(404, `no such page: ${path}`);
}

export interface ServerOptions {
  port?: number;
  /** The address to bind: 127.0.0.1 unless given. */
  host?: string;
  /** How long a client may take to send its whole request (headers and body); the answer may take longer. */
  requestTimeoutMs?: number;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);
export const isLoopback = (host: string) => LOOPBACK_NAMES.has(host) || /^127\./.test(host);
const ANY_ADDRESS = new Set(['0.0.0.0', '::', '[::]']);

/**
 * Whether a request's Host header names this server: a page from another site whose name resolves
 * here (DNS rebinding) sends its own name, and must not read the images and weights. A server bound
 * to every interface answers any name.
 */
function hostAllowed(header: string | undefined, bound: string): boolean {
  if (ANY_ADDRESS.has(bound)) return true;
  if (!header) return false;
  const name = header.toLowerCase().replace(/:\d+$/, '');
  return name === bound.toLowerCase() || name === `[${bound.toLowerCase()}]` || (isLoopback(bound) && isLoopback(name));
}

/** Starts the server; resolves once it listens. Binds to 127.0.0.1 unless a host is given. */
export function startServer(vis: AttributionVisualizer, opts: ServerOptions = {}): Promise<{ url: string; close(): Promise<void> }> {
  const bound = opts.host ?? '127.0.0.1';
  const requestTimeout = opts.requestTimeoutMs ?? 30_000;
  const server = createServer({ requestTimeout, headersTimeout: requestTimeout, connectionsCheckingInterval: Math.min(30_000, Math.max(100, requestTimeout / 4)) }, (req, res) => {
    if (!hostAllowed(req.headers.host, bound)) {
      return json(res, 403, { error: `the Host header '${req.headers.host ?? ''}' does not name this server (${bound}); open it by its own address` });
    }
    // A client that goes away cancels its queued or running GPU work.
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    route(vis, req, res, abort.signal).catch((e: Error) => {
      if (e instanceof AbortedError || e instanceof ClientGone) return;
      const status = e instanceof HttpError ? e.status : e instanceof RequestError ? 400 : 500;
      if (status === 500) console.error(`insights: ${req.method} ${req.url}: ${e.stack ?? e.message}`);
      json(res, status, { error: e.message });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new Error(`port ${opts.port} is in use; pick another with --port`) : e));
    server.listen(opts.port ?? 8080, bound, () => {
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
