/**
 * The explorer page: method picker with typed argument fields (the methods that fit the feature),
 * class and correctness filters, a grid of examples with their predictions, the attribution (overlays
 * on an image, coloured words of a text, a bar per column of a table row) and contribution bars; a box
 * for a new text or row. Attributions come from the server's JSON API, or, in the in-browser mode,
 * from the same engine bundled into this script and run on the visitor's WebGPU (weights fetched
 * once; nothing is sent back).
 */
import type { FeatureOutput } from '../features.ts';
import { type ArgumentValues, type MethodSet, findMethod, methodSetOf, validateArguments } from '../methods.ts';
import { attributionColor } from '../text.ts';
import type { Attribution, Example, Init } from './api-types.ts';
import { type AttributeRequest, attributeInBrowser as computeHere } from './browser-compute.ts';
import { checkedArguments, renderArgumentInputs } from './widgets.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
/** One attribution on this browser's GPU (browser-compute.ts), progress on the page's bar. */
const attributeInBrowser = (req: AttributeRequest) => computeHere(req, { init, layers: layerNames(), onProgress: (label, done, total) => setProgress(label, done, total), api });
let init: Init;
const kind = (): MethodSet => methodSetOf(init.features.map((f) => f.type));
const chosenClasses = new Set<string>();
let lastQuery: { method: string; arguments: ArgumentValues; filter: object } | null = null;
let nextOffset: number | null = null;

class ApiError extends Error {}

async function api<T>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ApiError(`${path}: HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  if (!res.ok) throw new ApiError((v as { error?: string }).error ?? `${path}: HTTP ${res.status}`);
  return v as T;
}

function showError(message: string | null): void {
  const el = $('error');
  el.hidden = !message;
  el.textContent = message ?? '';
}

// ---- progress: the server's queue is polled while a request waits; the browser mode reports directly.
let pollTimer: ReturnType<typeof setInterval> | null = null;
function setProgress(text: string | null, done?: number, total?: number): void {
  $('status').hidden = text === null;
  $('status-text').textContent = text ?? '';
  const bar = $<HTMLProgressElement>('progress');
  if (done !== undefined && total) { bar.max = total; bar.value = done; } else bar.removeAttribute('value');
}
async function whileBusy<T>(label: string, work: () => Promise<T>, pollServer: boolean): Promise<T> {
  setProgress(label);
  $<HTMLButtonElement>('fetch').disabled = true;
  if (pollServer) {
    pollTimer = setInterval(async () => {
      try {
        const s = await api<{ running: { label: string; done: number; total: number } | null; queued: number }>('/api/progress');
        if (s.running) setProgress(`${label}: ${s.running.label} ${s.running.done}/${s.running.total}${s.queued ? `, ${s.queued} waiting` : ''}`, s.running.done, s.running.total);
      } catch { /* the next poll tries again */ }
    }, 400);
  }
  try {
    return await work();
  } finally {
    if (pollTimer) clearInterval(pollTimer);
    pollTimer = null;
    setProgress(null);
    $<HTMLButtonElement>('fetch').disabled = false;
  }
}

// ---- the method picker and its typed fields
function renderArgumentFields(): void {
  renderArgumentInputs($('arguments'), init.methods.find((m) => m.name === $<HTMLSelectElement>('method').value)!.arguments);
}

/** The fields' values as the API takes them, checked by the same validator the server runs. */
function readArguments(): { method: string; arguments: ArgumentValues } {
  const method = $<HTMLSelectElement>('method').value;
  return { method, arguments: checkedArguments($('arguments'), (values) => validateArguments(findMethod(method, kind()), values, layerNames(), kind())) };
}

function layerNames(): string[] {
  const a = init.methods.flatMap((m) => m.arguments).find((x) => x.name === 'layer');
  return a?.type === 'enum' ? a.options : [];
}

// ---- filters
function renderChips(): void {
  const box = $('class-chips');
  box.replaceChildren(...[...chosenClasses].map((c) => {
    const b = document.createElement('button');
    b.type = 'button'; b.className = 'chip'; b.textContent = `${c} ×`; b.title = 'remove';
    b.onclick = () => { chosenClasses.delete(c); renderChips(); };
    return b;
  }));
}

// ---- the grid
function figure(src: string, caption: string): HTMLElement {
  const f = document.createElement('figure');
  const img = document.createElement('img');
  img.src = src; img.alt = caption;
  const c = document.createElement('figcaption');
  c.textContent = caption;
  f.append(img, c);
  return f;
}

/** A text's tokens, each marked with Captum's colour for its scaled attribution. */
function renderTokens(tokens: string[], out: FeatureOutput | undefined): HTMLElement {
  const p = document.createElement('p');
  p.className = 'tokens';
  tokens.forEach((t, i) => {
    const m = document.createElement('mark');
    m.textContent = t;
    if (out) {
      m.style.background = attributionColor(out.modified[i] / 100);
      m.title = `${out.modified[i].toFixed(1)}`;
    }
    p.append(m, ' ');
  });
  return p;
}

/** A table row: one line per column, its value and a bar of its scaled attribution (green positive, red negative). */
function renderColumns(values: { name: string; value: number }[], out: FeatureOutput | undefined): HTMLElement {
  const box = document.createElement('div');
  box.className = 'columns';
  values.forEach(({ name, value }, i) => {
    const line = document.createElement('div');
    line.className = 'column';
    const track = document.createElement('div'), fill = document.createElement('div');
    track.className = 'track'; fill.className = 'fill';
    const a = out?.modified[i] ?? 0, w = Math.abs(a) / 2;
    Object.assign(fill.style, a >= 0 ? { left: '50%', width: `${w}%`, background: '#3a9a4a' } : { left: `${50 - w}%`, width: `${w}%`, background: '#c0392b' });
    track.append(fill);
    line.append(Object.assign(document.createElement('span'), { textContent: name, title: name }), Object.assign(document.createElement('span'), { textContent: String(Number(value.toPrecision(4))) }), track,
      Object.assign(document.createElement('span'), { textContent: out ? a.toFixed(1) : '' }));
    box.append(line);
  });
  return box;
}

function renderExample(e: Example): HTMLElement {
  const card = document.createElement('article');
  card.className = 'example';
  card.dataset.index = String(e.index);
  card.dataset.model = String(e.model);
  const h = document.createElement('h3');
  const model = init.models.length > 1 ? ` · ${init.models[e.model].name}` : '';
  h.textContent = `${e.index < 0 ? 'Your input' : `Example ${e.index}`}${model} · label: ${e.label ? `${e.label.name} (${e.label.index})` : 'none'}`;
  const parts = e.inputs.map((part, k) => {
    const a = e.attribution?.features[k];
    const box = document.createElement('div');
    box.className = 'images';
    box.dataset.feature = part.name;
    if (e.inputs.length > 1) box.append(Object.assign(document.createElement('h4'), { textContent: part.name }));
    if (part.original !== undefined) box.append(figure(part.original, 'original'));
    if (a?.heatMap && a.blended) box.append(figure(a.heatMap, 'heat map'), figure(a.blended, 'blended'));
    if (part.tokens) box.append(renderTokens(part.tokens, a?.feature));
    if (part.values) box.append(renderColumns(part.values, a?.feature));
    return box;
  });
  const row = document.createElement('div');
  row.className = 'row';
  const preds = document.createElement('ul');
  preds.className = 'predictions';
  for (const p of e.predictions) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `pred${p.index === e.target.index ? ' target' : ''}`;
    b.textContent = p.name;
    b.title = `attribute to ${p.name} (${p.index})`;
    b.dataset.class = String(p.index);
    b.onclick = () => reattribute(card, e, p.index);
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.style.width = `${Math.max(1, p.score * 100)}%`;
    const score = document.createElement('span');
    score.textContent = p.score.toFixed(3);
    li.append(b, bar, score);
    preds.append(li);
  }
  row.append(preds);
  if (e.attribution) {
    const contrib = document.createElement('div');
    contrib.className = 'contributions';
    for (const c of e.attribution.contributions) {
      const line = document.createElement('div');
      line.className = 'contrib';
      const track = document.createElement('div'), fill = document.createElement('div');
      track.className = 'track'; fill.className = 'fill';
      const w = Math.abs(c.value) * 50;
      Object.assign(fill.style, c.value >= 0 ? { left: '50%', width: `${w}%`, background: '#3a9a4a' } : { left: `${50 - w}%`, width: `${w}%`, background: '#c0392b' });
      track.append(fill);
      const v = document.createElement('span');
      v.textContent = c.sum.toPrecision(3);
      line.append(Object.assign(document.createElement('span'), { textContent: c.name }), track, v);
      contrib.append(line);
    }
    row.append(contrib);
  }
  const meta = document.createElement('p');
  meta.className = 'meta';
  const notes = e.attribution?.features.filter((f) => f.note).map((f) => (e.inputs.length > 1 ? `${f.name}: ${f.note}` : f.note)) ?? [];
  meta.textContent = e.attribution
    ? `${e.attribution.method} → ${e.target.name} (${e.target.index}), ${e.attribution.seconds.toFixed(2)} s ${e.attribution.computedOn === 'browser' ? 'in this browser' : 'on the server'}${e.attribution.delta !== null && e.attribution.delta !== undefined ? `, convergence delta ${e.attribution.delta.toPrecision(3)}` : ''}${notes.length ? `; ${notes.join('; ')}` : ''}`
    : `target ${e.target.name}`;
  card.append(h, ...parts, row, meta);
  return card;
}

/** One row per example: its card for each model side by side (a single model: the card alone). */
function groupByExample(examples: Example[]): HTMLElement[] {
  if (init.models.length === 1) return examples.map(renderExample);
  const rows = new Map<number, HTMLElement>();
  for (const e of examples) {
    let row = rows.get(e.index);
    if (!row) rows.set(e.index, (row = Object.assign(document.createElement('div'), { className: 'models' })));
    row.append(renderExample(e));
  }
  return [...rows.values()];
}

function computeInBrowser(): boolean {
  return (document.querySelector<HTMLInputElement>('input[name=compute]:checked')?.value ?? 'server') === 'browser';
}

/** Attributions for examples fetched without them, computed here. */
async function fillInBrowser(examples: Example[], q: { method: string; arguments: ArgumentValues }): Promise<void> {
  for (const e of examples) e.attribution = (await attributeInBrowser({ example: e.index, target: e.target.index, model: e.model, ...q })).attribution;
}

async function runFetch(offset: number): Promise<void> {
  showError(null);
  try {
    const q = offset === 0 ? { ...readArguments(), filter: { classes: [...chosenClasses], prediction: $<HTMLSelectElement>('prediction').value } } : lastQuery!;
    lastQuery = q;
    const browser = computeInBrowser();
    const res = await whileBusy(browser ? 'computing in this browser' : 'computing on the server', async () => {
      const r = await api<{ examples: Example[]; total: number; next: number | null }>('/api/fetch', { ...q, method: browser ? null : q.method, arguments: browser ? undefined : q.arguments, offset, count: 4 });
      if (browser) await fillInBrowser(r.examples, q);
      return r;
    }, !browser);
    if (offset === 0) $('examples').replaceChildren();
    $('examples').append(...groupByExample(res.examples));
    prefillCustom(res.examples[0]);
    if (res.total === 0) showError('no example passes the filter');
    nextOffset = res.next;
    $('more').hidden = nextOffset === null;
  } catch (e) {
    showError((e as Error).message);
  }
}

async function reattribute(card: HTMLElement, e: Example, target: number): Promise<void> {
  showError(null);
  card.classList.add('busy');
  try {
    const q = lastQuery ?? readArguments();
    const req = { example: e.index, target, method: q.method, arguments: q.arguments, model: e.model };
    // A typed input lives on the server only (its tokens come from the server's vocabulary).
    const browser = computeInBrowser() && e.index >= 0;
    type Updated = Pick<Example, 'target' | 'attribution'>;
    const updated = await whileBusy<Updated>(`attributing to ${init.classes[target]}`,
      () => (browser ? attributeInBrowser(req) : api<Example>('/api/attribute', e.index < 0 ? { ...req, example: undefined, input: e.input } : req)), !browser);
    card.replaceWith(renderExample({ ...e, target: updated.target, attribution: updated.attribution }));
  } catch (err) {
    showError((err as Error).message);
    card.classList.remove('busy');
  }
}

// ---- a new text or table row, attributed on the server
function renderCustomFields(): void {
  const box = $('custom-fields');
  for (const f of init.features) {
    const group = Object.assign(document.createElement('span'), { className: 'custom-feature' });
    group.dataset.feature = f.name;
    if (init.features.length > 1) group.append(Object.assign(document.createElement('b'), { textContent: `${f.name}:` }));
    if (f.type === 'text') {
      group.append(Object.assign(document.createElement('input'), { className: 'custom-text', name: 'text', size: 60, placeholder: 'type a sentence' }));
    } else {
      for (const c of f.categories!) {
        const label = document.createElement('label');
        label.append(`${c} `, Object.assign(document.createElement('input'), { type: 'number', step: 'any', name: c }));
        group.append(label);
      }
    }
    box.append(group);
  }
}

const customGroup = (name: string) => $('custom-fields').querySelector<HTMLElement>(`.custom-feature[data-feature="${CSS.escape(name)}"]`)!;

/** Fills the row fields from an example once, so that a visitor edits a real row. */
function prefillCustom(e: Example | undefined): void {
  e?.inputs.forEach((part) => {
    for (const { name, value } of part.values ?? []) {
      const el = customGroup(part.name).querySelector<HTMLInputElement>(`input[name="${CSS.escape(name)}"]`);
      if (el && el.value === '') el.value = String(Number(value.toPrecision(6)));
    }
  });
}

/** The typed input as the API takes it: one feature's value, or each feature's by name. */
function customInput(): unknown {
  const value = (f: Init['features'][number]) => {
    const group = customGroup(f.name);
    if (f.type === 'text') return group.querySelector<HTMLInputElement>('input.custom-text')!.value;
    // Empty or unreadable fields go as they are: the server names the column that is wrong.
    return Object.fromEntries([...group.querySelectorAll<HTMLInputElement>('input')].map((el) => [el.name, el.value.trim() === '' || !Number.isFinite(Number(el.value)) ? el.value : Number(el.value)]));
  };
  return init.features.length === 1 ? value(init.features[0]) : Object.fromEntries(init.features.map((f) => [f.name, value(f)]));
}

async function runCustom(): Promise<void> {
  showError(null);
  try {
    const q = readArguments();
    const input = customInput();
    const cards = await whileBusy('attributing your input on the server',
      () => Promise.all(init.models.map((m) => api<Example>('/api/attribute', { input, ...q, model: m.index }))), true);
    lastQuery ??= { ...q, filter: {} };
    $('examples').prepend(...groupByExample(cards.map((e) => ({ ...e, input }))));
  } catch (err) {
    showError((err as Error).message);
  }
}

// ---- start
async function main(): Promise<void> {
  init = await api<Init>('/api/init');
  $('summary').textContent = `${init.examples} examples · ${init.models.map((m) => m.name).join(', ')} · ${init.classes.length} classes`;
  const select = $<HTMLSelectElement>('method');
  for (const m of init.methods) select.append(new Option(m.label, m.name));
  select.onchange = renderArgumentFields;
  renderArgumentFields();
  $('class-list').replaceChildren(...init.classes.map((c) => new Option(c)));
  const classInput = $<HTMLInputElement>('class-input');
  classInput.onchange = () => {
    if (init.classes.includes(classInput.value)) { chosenClasses.add(classInput.value); renderChips(); classInput.value = ''; }
  };
  const canBrowse = !!navigator.gpu && init.models.every((m) => m.browserCompute);
  $<HTMLInputElement>('compute-browser').disabled = !canBrowse;
  $('compute-note').textContent = canBrowse ? 'the in-browser mode downloads the weights once' : navigator.gpu ? `${init.models.length > 1 ? 'a model here runs' : 'this model runs'} on the server only` : 'this browser has no WebGPU';
  $('controls').onsubmit = (ev) => { ev.preventDefault(); void runFetch(0); };
  if (init.acceptsInput) {
    renderCustomFields();
    $('custom').hidden = false;
    $('custom').onsubmit = (ev) => { ev.preventDefault(); void runCustom(); };
  }
  $('more').onclick = () => { if (nextOffset !== null) void runFetch(nextOffset); };
  // For scripts and tests: the raw in-browser result, to compare with the server's.
  Object.assign(window, {
    glimpseInsights: {
      attributeInBrowser: async (req: AttributeRequest) => {
        const r = await whileBusy('computing in this browser', () => attributeInBrowser(req), false);
        return { data: Array.from(r.data), seconds: r.attribution.seconds };
      },
    },
  });
  document.body.dataset.ready = 'true';
}

main().catch((e) => showError(`the explorer failed to start: ${(e as Error).message}`));
