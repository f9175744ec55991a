// The explorer's JSON API against a live server on a free port: init, fetch for two methods (values
// equal to the attribution API's own), re-attribution, filters, paging, every kind of bad request,
// path traversal, ten concurrent requests, and a client that goes away.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'node:http';
import * as A from '../src/attr/index.ts';
import { fromArray, tidy } from '../src/autograd/index.ts';
import { decodeFloats } from '../src/insights/present.ts';
import { getGpu, relMaxError } from './helpers.ts';
import { SIZE, insightsFixture, twoModelFixture } from './insights-fixture.ts';

type Fixture = Awaited<ReturnType<typeof insightsFixture>> & { url: string; close(): Promise<void> };
let fx: Fixture | null = null;
async function fixture(): Promise<Fixture> {
  if (!fx) {
    const f = await insightsFixture(await getGpu());
    fx = { ...f, ...(await f.vis.serve({ port: 0 })) };
  }
  return fx;
}

async function post(path: string, body: unknown, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const { url } = await fixture();
  const res = await fetch(url + path.slice(1), { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body), ...init });
  return { status: res.status, body: await res.json() };
}
async function get(path: string): Promise<{ status: number; body: any }> {
  const { url } = await fixture();
  const res = await fetch(url + path.slice(1));
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text };
}
/** A raw request, so that paths like /../x reach the server unnormalized. */
function rawGet(path: string): Promise<number> {
  return fixture().then(({ url }) => new Promise((resolve, reject) => {
    const u = new URL(url);
    request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => { res.resume(); resolve(res.statusCode!); }).on('error', reject).end();
  }));
}

/** What the attribution API gives directly for example i (its normalized input) and a target. */
async function direct(i: number, target: number, run: (x: ReturnType<typeof fromArray>) => Promise<ReturnType<typeof fromArray>>): Promise<Float32Array> {
  const { imgs, normalize } = await fixture();
  const ctx = await getGpu();
  return tidy(async () => {
    const x = fromArray(ctx, normalize({ data: imgs[i], shape: [3, SIZE, SIZE] }).data, [1, 3, SIZE, SIZE]);
    return (await run(x)).data();
  });
}

test('init lists classes, models, features and every method with typed arguments and the model\'s layers', async () => {
  const { status, body } = await get('/api/init');
  assert.is(status, 200);
  assert.is(body.classes.length, 1000);
  assert.is(body.classes[285], 'Egyptian cat');
  assert.is(body.examples, 4);
  assert.equal(body.models, [{ index: 0, name: 'resnet18', kind: 'resnet', browserCompute: true }]);
  assert.equal(body.methods.map((m: { name: string }) => m.name), ['IntegratedGradients', 'Saliency', 'InputXGradient', 'GuidedBackprop', 'Deconvolution', 'Occlusion', 'FeatureAblation', 'LayerGradCam']);
  const ig = body.methods[0].arguments;
  assert.equal(ig[0], { name: 'nSteps', type: 'integer', default: 25, min: 2, max: 1000, help: ig[0].help });
  assert.equal([...ig[1].options].sort(), ['gausslegendre', 'riemann_left', 'riemann_middle', 'riemann_right', 'riemann_trapezoid']);
  assert.is(ig[1].default, 'gausslegendre');
  const layer = body.methods[7].arguments[0];
  assert.ok(layer.options.includes('layer3.1.conv2') && layer.options.includes('layer4'), 'the layer picker lists the model\'s modules');
});

test('fetch with Saliency: every example with pictures, predictions, and the attribution API\'s values', async () => {
  const { labels } = await fixture();
  const { status, body } = await post('/api/fetch', { method: 'Saliency', raw: true });
  assert.is(status, 200);
  assert.is(body.total, 4);
  assert.is(body.examples.length, 4);
  for (const e of body.examples) {
    for (const u of [e.inputs[0].original, e.attribution.features[0].heatMap, e.attribution.features[0].blended]) assert.ok(u.startsWith('data:image/png;base64,iVBORw0KGgo'), 'PNG data URL');
    assert.is(e.predictions.length, 5);
    assert.ok(e.predictions[0].score >= e.predictions[1].score && e.predictions[0].score <= 1, 'softmax scores, best first');
    const target = labels[e.index] ?? e.predictions[0].index; // the label when there is one (useLabelForAttr), else the top prediction
    assert.is(e.target.index, target);
    assert.equal(e.attribution.shape, [1, 3, SIZE, SIZE]);
    const want = await direct(e.index, target, (x) => new A.Saliency((fx!.model.net)).attribute(x, { target }));
    const err = relMaxError(decodeFloats(e.attribution.data), want);
    assert.ok(err < 1e-6, `example ${e.index}: ${err}`);
    assert.is(e.attribution.contributions[0].name, 'Photo');
    assert.is(e.attribution.contributions[0].value, 1); // absolute gradients: a positive sum, normalized to 1
  }
});

test('fetch with Grad-CAM on layer3, upsampled bilinearly, equals LayerGradCam + interpolate', async () => {
  const { body } = await post('/api/fetch', { method: 'LayerGradCam', arguments: { layer: 'layer3', interpolateMode: 'bilinear' }, count: 1, raw: true });
  const e = body.examples[0];
  assert.equal(e.attribution.shape, [1, 1, SIZE, SIZE]);
  assert.equal(e.attribution.arguments, { layer: 'layer3', reluAttributions: false, interpolateMode: 'bilinear' });
  const want = await direct(0, e.target.index, async (x) => A.LayerAttribution.interpolate(await new A.LayerGradCam(fx!.model.net, 'layer3').attribute(x, { target: e.target.index }), [SIZE, SIZE], 'bilinear'));
  assert.ok(relMaxError(decodeFloats(e.attribution.data), want) < 1e-6);
  assert.is(body.next, 1);
});

test('two models side by side: without a model, fetch shows each example for each model that passes the filter, with that model\'s own attribution', async () => {
  const ctx = await getGpu();
  const { vis, nets, labels } = await twoModelFixture(ctx);
  const init = await vis.init();
  assert.equal(init.models.map((m) => m.name), ['resnet18', 'squeezenet1_1_seed0.onnx']);
  const all = await vis.fetch({ method: 'Saliency', raw: true, count: 2 });
  assert.equal(all.examples.map((e) => [e.index, e.model]), [[0, 0], [0, 1], [1, 0], [1, 1]]);
  assert.is(all.total, 4);
  assert.is(all.next, 2);
  const inputs = (await vis.loadExamples()).map((e) => e.input);
  for (const e of all.examples) {
    assert.is(e.target.index, labels[e.index], 'the label, for each model');
    const want = await tidy(async () => (await new A.Saliency(nets[e.model]).attribute(fromArray(ctx, inputs[e.index].data, [1, 3, SIZE, SIZE]), { target: labels[e.index]! })).data());
    assert.ok(relMaxError(decodeFloats(e.attribution!.data!), want) < 1e-6, `example ${e.index}, model ${e.model}`);
  }
  assert.ok(relMaxError(decodeFloats(all.examples[0].attribution!.data!), decodeFloats(all.examples[1].attribution!.data!)) > 0.1, 'two models, two attributions');
  // The filter holds per model: an example whose label one model gets right and the other not shows once.
  const preds = await vis.fetch({ method: null, count: 4 });
  const right = preds.examples.filter((e) => e.label && e.predictions[0].index === e.label.index).map((e) => [e.index, e.model]);
  const correct = await vis.fetch({ method: null, filter: { prediction: 'correct' }, count: 4 });
  assert.ok(right.length === 1 && right[0][0] === 0 && right[0][1] === 0, `the ResNet alone gets example 0 right: ${JSON.stringify(right)}`);
  assert.equal(correct.examples.map((e) => [e.index, e.model]), right);
  const one = await vis.fetch({ method: null, model: 1, count: 4 });
  assert.equal(one.examples.map((e) => e.model), [1, 1, 1, 1]);
  let message = '';
  try { await vis.fetch({ method: 'LayerGradCam', arguments: { layer: 'layer3' } }); } catch (e) { message = (e as Error).message; }
  assert.match(message, 'model 1 (squeezenet1_1_seed0.onnx): LayerGradCam.layer must be one of');
});

test('attribute re-attributes one example to another target', async () => {
  const a = await post('/api/attribute', { example: 1, target: 281, method: 'InputXGradient', raw: true });
  const b = await post('/api/attribute', { example: 1, target: 7, method: 'InputXGradient', raw: true });
  assert.is(a.status, 200);
  assert.equal(a.body.target, { index: 281, name: 'tabby' });
  const want = await direct(1, 281, (x) => new A.InputXGradient(fx!.model.net).attribute(x, { target: 281 }));
  assert.ok(relMaxError(decodeFloats(a.body.attribution.data), want) < 1e-6);
  assert.ok(relMaxError(decodeFloats(b.body.attribution.data), want) > 0.1, 'another target gives another attribution');
});

test('filters: correct / incorrect predictions, classes by label or top prediction, paging', async () => {
  const { labels } = await fixture();
  const all = (await post('/api/fetch', { method: null })).body.examples;
  assert.ok(all.every((e: { attribution: unknown }) => e.attribution === null), 'method null: predictions only');
  const top = all.map((e: { predictions: { index: number }[] }) => e.predictions[0].index);
  const ids = async (filter: unknown) => (await post('/api/fetch', { method: null, filter })).body.examples.map((e: { index: number }) => e.index);
  const correct = [0, 1, 2, 3].filter((i) => labels[i] !== null && top[i] === labels[i]);
  const incorrect = [0, 1, 2, 3].filter((i) => labels[i] !== null && top[i] !== labels[i]);
  assert.ok(correct.includes(0) && incorrect.length >= 1, 'the fixture has both kinds');
  assert.equal(await ids({ prediction: 'correct' }), correct);
  assert.equal(await ids({ prediction: 'incorrect' }), incorrect);
  assert.equal(await ids({ prediction: 'all' }), [0, 1, 2, 3]);
  const cat = [0, 1, 2, 3].filter((i) => labels[i] === 285 || top[i] === 285);
  assert.equal(await ids({ classes: ['Egyptian cat'] }), cat);
  const page = await post('/api/fetch', { method: null, offset: 2, count: 1 });
  assert.equal([page.body.examples[0].index, page.body.next, page.body.total], [2, 3, 4]);
});

test('bad requests are answered 400 (413, 415, 405) with a message, and the server keeps working', async () => {
  const cases: [string, unknown, number, string][] = [
    ['/api/fetch', { method: 'Lime' }, 400, 'unknown method "Lime"'],
    ['/api/fetch', { method: 'IntegratedGradients', arguments: { nSteps: 0 } }, 400, 'nSteps must be between 2 and 1000'],
    ['/api/fetch', { method: 'IntegratedGradients', arguments: { nSteps: 'many' } }, 400, 'nSteps must be an integer'],
    ['/api/fetch', { method: 'IntegratedGradients', arguments: { nSteps: 2.5 } }, 400, 'nSteps must be an integer'],
    ['/api/fetch', { method: 'IntegratedGradients', arguments: { method: 'simpson' } }, 400, 'must be one of'],
    ['/api/fetch', { method: 'Saliency', arguments: { nSteps: 4 } }, 400, "Saliency has no argument 'nSteps'"],
    ['/api/fetch', { method: 'LayerGradCam', arguments: { layer: 'layer9' } }, 400, 'LayerGradCam.layer must be one of'],
    ['/api/fetch', { method: 'Occlusion', arguments: { slidingWindowShapes: [3, 15] } }, 400, 'must be 3 integers'],
    ['/api/fetch', { method: 'Occlusion', arguments: { slidingWindowShapes: [3, 99, 99] }, count: 1 }, 400, 'larger than the input'],
    ['/api/fetch', { method: 'Saliency', filter: { prediction: 'maybe' } }, 400, 'filter.prediction'],
    ['/api/fetch', { method: 'Saliency', filter: { classes: ['unicorn'] } }, 400, 'unknown class "unicorn"'],
    ['/api/fetch', { method: 'Saliency', count: 1000 }, 400, 'count must be an integer 1..32'],
    ['/api/fetch', { method: 'Saliency', extra: 1 }, 400, "unknown field 'extra'"],
    ['/api/attribute', { example: 4, target: 1, method: 'Saliency' }, 400, 'example must be an index 0..3'],
    ['/api/attribute', { example: '../0', target: 1, method: 'Saliency' }, 400, 'example must be an index'],
    ['/api/attribute', { example: 0, target: 1000, method: 'Saliency' }, 400, 'target must be a class index 0..999'],
    ['/api/attribute', '{"example": 0,', 400, 'not valid JSON'],
    ['/api/attribute', '[1, 2]', 400, 'must be a JSON object'],
    ['/api/fetch', { method: 'Saliency', filter: 'x'.repeat(70_000) }, 413, 'limit is 65536'],
  ];
  for (const [path, body, status, message] of cases) {
    const r = await post(path, body);
    assert.is(r.status, status, `${JSON.stringify(body).slice(0, 80)}: ${JSON.stringify(r.body)}`);
    assert.match(r.body.error, message);
  }
  assert.is((await post('/api/fetch', { method: 'Saliency' }, { headers: { 'content-type': 'text/plain' } })).status, 415);
  assert.is((await get('/api/fetch')).status, 405);
  assert.is((await post('/api/init', {})).status, 405);
  assert.is((await post('/api/attribute', { example: 0, target: 1, method: 'Saliency' })).status, 200);
});

test('only the page\'s own assets and examples by index are served: traversal attempts get 404', async () => {
  for (const path of ['/../package.json', '/%2e%2e/package.json', '/..%2f..%2fpackage.json', '/src/insights/page/app.ts', '/kernels/conv.wgsl',
    '/api/examples/../../etc/passwd', '/api/examples/1/../../../package.json', '/api/models/0/../../../weights', '/style.css/..%2f..%2f..%2fpackage.json', '/etc/passwd', '//etc/passwd']) {
    const status = await rawGet(path);
    assert.ok(status === 404, `${path}: ${status}`);
  }
  assert.is(await rawGet('/api/examples/99/tensors'), 400);
  assert.is(await rawGet('/style.css'), 200);
  assert.is(await rawGet('/api/examples/3/tensors'), 200);
});

test('ten concurrent fetches all complete, in order, each with its own result', async () => {
  const finished: number[] = [];
  const results = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
    const r = await post('/api/fetch', { method: 'Saliency', arguments: { abs: i % 2 === 0 }, offset: i % 4, count: 1, raw: true });
    finished.push(i);
    return r;
  }));
  assert.equal(finished, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'answered in the order sent');
  for (const [i, r] of results.entries()) {
    assert.is(r.status, 200);
    const e = r.body.examples[0];
    assert.is(e.index, i % 4);
    assert.is(e.attribution.arguments.abs, i % 2 === 0);
    const want = await direct(i % 4, e.target.index, (x) => new A.Saliency(fx!.model.net).attribute(x, { target: e.target.index, abs: i % 2 === 0 }));
    assert.ok(relMaxError(decodeFloats(e.attribution.data), want) < 1e-6, `request ${i} got another request's result`);
  }
});

test('a client that goes away stops its work; the next request runs at once', async () => {
  const abort = new AbortController();
  const slow = post('/api/attribute', { example: 0, target: 1, method: 'IntegratedGradients', arguments: { nSteps: 1000 } }, { signal: abort.signal }).catch((e) => e);
  let running = false;
  for (let i = 0; i < 100 && !running; i++) {
    await new Promise((r) => setTimeout(r, 100));
    running = (await get('/api/progress')).body.running !== null;
  }
  assert.ok(running, 'the IG job started');
  abort.abort();
  assert.instance(await slow, Error);
  const t0 = performance.now();
  let idle = false;
  while (!idle && performance.now() - t0 < 20_000) {
    await new Promise((r) => setTimeout(r, 100));
    const s = (await get('/api/progress')).body;
    idle = s.running === null && s.queued === 0;
  }
  assert.ok(idle, 'the cancelled job stopped within 20 s (1000 IG steps take over a minute)');
  const r = await post('/api/attribute', { example: 0, target: 1, method: 'Saliency' });
  assert.is(r.status, 200);
});

test('HTTP edge cases: a chunked body over the limit gets its 413, a missing method, a wrong content type, a bad Host, a slow body, a client gone mid-upload', async () => {
  const { url } = await fixture();
  // A chunked body (no content-length) past 64 KB: the 413 arrives instead of a reset.
  const big = new ReadableStream({ start(c) { for (let i = 0; i < 40; i++) c.enqueue(new TextEncoder().encode('x'.repeat(8192))); c.close(); } });
  const r413 = await fetch(url + 'api/fetch', { method: 'POST', headers: { 'content-type': 'application/json' }, body: big, duplex: 'half' } as RequestInit);
  assert.is(r413.status, 413);
  assert.match((await r413.json()).error, 'exceeds 65536 bytes');
  const none = await post('/api/attribute', { example: 0, target: 1 });
  assert.is(none.status, 400);
  assert.match(none.body.error, 'the request has no "method"');
  assert.is((await post('/api/fetch', { method: 'Saliency' }, { headers: { 'content-type': 'application/jsonfoo' } })).status, 415);
  assert.is((await post('/api/fetch', { method: null, count: 1 }, { headers: { 'content-type': 'application/json; charset=utf-8' } })).status, 200);
  // DNS rebinding: a page of another site whose name resolves here sends its own Host.
  const u = new URL(url);
  const hostStatus = (host: string) => new Promise<number>((resolve, reject) => {
    request({ host: u.hostname, port: u.port, path: '/api/init', method: 'GET', headers: { host } }, (res) => { res.resume(); resolve(res.statusCode!); }).on('error', reject).end();
  });
  assert.is(await hostStatus('evil.example:' + u.port), 403);
  assert.is(await hostStatus('localhost:' + u.port), 200);
  assert.is(await hostStatus('127.0.0.1:' + u.port), 200);
  // Grad-CAM's layer picker offers only layers with [N, C, H, W] outputs; fc is refused as a 400.
  const init = (await get('/api/init')).body;
  const layers: string[] = init.methods.find((m: { name: string }) => m.name === 'LayerGradCam').arguments[0].options;
  assert.ok(!layers.includes('fc') && layers.includes('layer4.1.conv2') && layers.includes('conv1'), layers.join(','));
  const fc = await post('/api/attribute', { example: 0, target: 1, method: 'LayerGradCam', arguments: { layer: 'fc' } });
  assert.is(fc.status, 400);
  // A client that stops sending: its request times out (the server's requestTimeoutMs), then a client gone mid-upload.
  const { vis } = await fixture();
  const quick = await vis.serve({ port: 0, requestTimeoutMs: 500 });
  try {
    const q = new URL(quick.url);
    const slowBody = await new Promise<number | string>((resolve) => {
      const req = request({ host: q.hostname, port: q.port, path: '/api/fetch', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': 100 } }, (res) => { res.resume(); resolve(res.statusCode!); });
      req.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? 'error'));
      req.write('{"method":');
    });
    assert.ok(slowBody === 408 || slowBody === 'ECONNRESET', `a body that never ends: ${slowBody}`);
    const errors: unknown[] = [], log = console.error;
    console.error = (...a: unknown[]) => { errors.push(a); };
    try {
      await new Promise<void>((resolve) => {
        const req = request({ host: q.hostname, port: q.port, path: '/api/fetch', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': 1000 } });
        req.on('error', () => resolve());
        req.write('{"method": "Sal');
        setTimeout(() => { req.destroy(); setTimeout(resolve, 200); }, 100);
      });
    } finally {
      console.error = log;
    }
    assert.equal(errors, [], 'a client gone mid-upload logs nothing');
    assert.is((await fetch(quick.url + 'api/progress')).status, 200);
  } finally {
    await quick.close();
  }
});

test('200 attributions through the server leave the pool\'s live bytes flat; idle memory is given back after each job', async () => {
  await post('/api/attribute', { example: 0, target: 1, method: 'Saliency' });
  await post('/api/attribute', { example: 0, target: 1, method: 'LayerGradCam', arguments: { layer: 'layer3' } });
  const before = (await get('/api/progress')).body.memory;
  for (let i = 0; i < 200; i++) {
    const r = await post('/api/attribute', { example: i % 4, target: i % 7, method: i % 2 ? 'Saliency' : 'LayerGradCam', arguments: i % 2 ? {} : { layer: 'layer3' } });
    assert.is(r.status, 200);
  }
  const after = (await get('/api/progress')).body.memory;
  assert.is(after.liveBytes, before.liveBytes, `live bytes ${before.liveBytes} -> ${after.liveBytes}`);
  assert.is(after.idleBytes, 0, 'idle buffers are destroyed after each job');
});

test.after(async () => {
  await fx?.close();
  fx = null;
});

test.run();
