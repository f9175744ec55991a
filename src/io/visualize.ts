/**
 * Pictures of attributions with Captum's semantics (captum.attr.visualization): the same methods,
 * signs, normalization (sum over channels, sign filter, cumulative-sum outlier threshold, scale and
 * clip) and default colormaps, drawn into RGB figures with titles and colorbars. Pure pixels: writing
 * a PNG is the caller's (encodePng in image-decode.ts).
 */
import { COLORMAPS, type Colormap, colorAt } from './colormap.ts';
import { GLYPH_HEIGHT, glyphPixel, textWidth } from './font.ts';
import type { RgbImage } from './image.ts';

export type VisualizeMethod = 'heat_map' | 'blended_heat_map' | 'original_image' | 'masked_image' | 'alpha_scaling';
export type VisualizeSign = 'all' | 'positive' | 'negative' | 'absolute_value';
export const VISUALIZE_METHODS: VisualizeMethod[] = ['heat_map', 'blended_heat_map', 'original_image', 'masked_image', 'alpha_scaling'];
export const VISUALIZE_SIGNS: VisualizeSign[] = ['all', 'positive', 'negative', 'absolute_value'];

/** A host array with its shape: attributions [C, H, W] (or [1, C, H, W]); images [3, H, W] in [0, 1]. */
export interface HostArray {
  data: ArrayLike<number>;
  shape: readonly number[];
}

export interface VisualizeOptions {
  method?: VisualizeMethod;
  sign?: VisualizeSign;
  outlierPerc?: number;
  cmap?: Colormap | string;
  alphaOverlay?: number;
  showColorbar?: boolean;
  title?: string;
  /** Pixels per attribution pixel in the figure (default: so that the panel is at least 224 wide). */
  scale?: number;
}

function chw(a: HostArray, what: string): { C: number; H: number; W: number; data: ArrayLike<number> } {
  const s = a.shape.length === 4 && a.shape[0] === 1 ? a.shape.slice(1) : a.shape;
  if (s.length !== 3) throw new Error(`${what} must be [C, H, W] (or [1, C, H, W]), got [${a.shape.join(', ')}]`);
  return { C: s[0], H: s[1], W: s[2], data: a.data };
}

/** Captum's _cumulative_sum_threshold: the smallest sorted value whose cumulative sum reaches percentile% of the total. */
export function cumulativeSumThreshold(values: ArrayLike<number>, percentile: number): number {
  if (!(percentile >= 0 && percentile <= 100)) throw new Error('percentile for thresholding must be between 0 and 100');
  const sorted = Float64Array.from(values).sort();
  let total = 0;
  for (const v of sorted) total += v;
  let cum = 0;
  for (const v of sorted) {
    cum += v;
    if (cum >= total * 0.01 * percentile) return v;
  }
  return sorted[sorted.length - 1];
}

/**
 * Captum's _normalize_attr over channels: sum over C, keep the sign's part, divide by the
 * cumulative-sum threshold at 100 - outlierPerc, clip to [-1, 1]. Returns [H * W] values.
 */
export function normalizeAttr(attr: HostArray, sign: VisualizeSign, outlierPerc = 2): Float32Array {
  if (!VISUALIZE_SIGNS.includes(sign)) throw new Error(`unknown sign '${sign}'; use one of ${VISUALIZE_SIGNS.join(', ')}`);
  const { C, H, W, data } = chw(attr, 'attributions');
  const n = H * W;
  const combined = new Float64Array(n);
  for (let c = 0; c < C; c++) for (let i = 0; i < n; i++) combined[i] += data[c * n + i];
  // NaN (Occlusion's positions that no window covers, as Captum returns them) draws as 0.
  for (let i = 0; i < n; i++) if (Number.isNaN(combined[i])) combined[i] = 0;
  let threshold: number;
  const abs = combined.map(Math.abs);
  if (sign === 'all') threshold = cumulativeSumThreshold(abs, 100 - outlierPerc);
  else if (sign === 'positive') {
    for (let i = 0; i < n; i++) combined[i] = combined[i] > 0 ? combined[i] : 0;
    threshold = cumulativeSumThreshold(combined, 100 - outlierPerc);
  } else if (sign === 'negative') {
    for (let i = 0; i < n; i++) combined[i] = combined[i] < 0 ? combined[i] : 0;
    threshold = -cumulativeSumThreshold(combined.map(Math.abs), 100 - outlierPerc);
  } else {
    combined.set(abs);
    threshold = cumulativeSumThreshold(combined, 100 - outlierPerc);
  }
  if (threshold === 0 || !Number.isFinite(threshold)) {
    throw new Error(`cannot normalize the attributions for sign '${sign}': ${sign === 'all' || sign === 'absolute_value' ? 'they are all zero' : `none is ${sign}`}`);
  }
  return Float32Array.from(combined, (v) => Math.max(-1, Math.min(1, v / threshold)));
}

const DEFAULT_CMAP: Record<VisualizeSign, string> = { all: 'RdWhGn', positive: 'Greens', negative: 'Reds', absolute_value: 'Blues' };

function resolveCmap(c: Colormap | string | undefined, sign: VisualizeSign): Colormap {
  if (c && typeof c !== 'string') return c;
  const name = c ?? DEFAULT_CMAP[sign];
  const m = COLORMAPS[name];
  if (!m) throw new Error(`unknown colormap '${name}'; built in: ${Object.keys(COLORMAPS).join(', ')} (or pass colormapFromStops(...))`);
  return m;
}

/** An RGB canvas with floats in [0, 1]. */
class Canvas {
  readonly px: Float32Array;
  constructor(readonly width: number, readonly height: number, bg = 1) {
    this.px = new Float32Array(width * height * 3).fill(bg);
  }
  set(x: number, y: number, c: ArrayLike<number>): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const o = (y * this.width + x) * 3;
    this.px[o] = c[0]; this.px[o + 1] = c[1]; this.px[o + 2] = c[2];
  }
  text(s: string, x: number, y: number, scale: number, color: ArrayLike<number> = [0, 0, 0]): void {
    for (let i = 0; i < s.length; i++) {
      for (let gx = 0; gx < 5; gx++) for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
        if (!glyphPixel(s[i], gx, gy)) continue;
        for (let dx = 0; dx < scale; dx++) for (let dy = 0; dy < scale; dy++) this.set(x + (i * 6 + gx) * scale + dx, y + gy * scale + dy, color);
      }
    }
  }
  toImage(): RgbImage {
    return { width: this.width, height: this.height, data: Uint8Array.from(this.px, (v) => Math.round(Math.max(0, Math.min(1, v)) * 255)) };
  }
}

interface Panel {
  /** [H * W * 3] colors in [0, 1]. */
  rgb: Float32Array;
  H: number;
  W: number;
  title?: string;
  colorbar?: { cmap: Colormap; vmin: number; vmax: number };
}

/** One panel's pixels: what visualize_image_attr draws on its axis. */
function renderPanel(attr: HostArray | null, original: HostArray | null, o: VisualizeOptions): Panel {
  const method = o.method ?? 'heat_map', sign = o.sign ?? 'absolute_value';
  if (!VISUALIZE_METHODS.includes(method)) throw new Error(`unknown visualization method '${method}'; use one of ${VISUALIZE_METHODS.join(', ')}`);
  const orig = original ? chw(original, 'the original image') : null;
  if (orig && orig.C !== 3 && orig.C !== 1) throw new Error(`the original image must have 1 or 3 channels, got ${orig.C}`);
  const needsOriginal = method !== 'heat_map';
  if (needsOriginal && !orig) throw new Error(`visualization method '${method}' needs the original image`);
  const origAt = (i: number, c: number, n: number) => orig!.data[(orig!.C === 1 ? 0 : c) * n + i];
  if (method === 'original_image') {
    const n = orig!.H * orig!.W, rgb = new Float32Array(n * 3);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = origAt(i, c, n);
    return { rgb, H: orig!.H, W: orig!.W, title: o.title };
  }
  if (!attr) throw new Error(`visualization method '${method}' needs attributions`);
  if ((method === 'masked_image' || method === 'alpha_scaling') && sign === 'all') {
    throw new Error(`cannot display ${method === 'masked_image' ? 'a masked image' : 'alpha scaling'} with both positive and negative attributions; choose sign positive, negative or absolute_value`);
  }
  const a = chw(attr, 'attributions');
  if (orig && (orig.H !== a.H || orig.W !== a.W)) throw new Error(`attributions are ${a.H}x${a.W} but the original image is ${orig.H}x${orig.W}; interpolate the attributions first`);
  const norm = normalizeAttr(attr, sign, o.outlierPerc ?? 2);
  const cmap = resolveCmap(o.cmap, sign);
  const [vmin, vmax] = sign === 'all' ? [-1, 1] : [0, 1];
  const n = a.H * a.W, rgb = new Float32Array(n * 3);
  const alpha = o.alphaOverlay ?? 0.5;
  for (let i = 0; i < n; i++) {
    const v = norm[i];
    const heat = colorAt(cmap, (v - vmin) / (vmax - vmin));
    for (let c = 0; c < 3; c++) {
      let out: number;
      if (method === 'heat_map') out = heat[c];
      else if (method === 'blended_heat_map') {
        let g = 0;
        for (let k = 0; k < 3; k++) g += origAt(i, k, n) / 3; // np.mean over channels, shown in gray
        out = (1 - alpha) * g + alpha * heat[c];
      } else if (method === 'masked_image') out = origAt(i, c, n) * v;
      else out = v * origAt(i, c, n) + (1 - v); // alpha_scaling over the white figure
      rgb[i * 3 + c] = out;
    }
  }
  const colorbar = o.showColorbar && (method === 'heat_map' || method === 'blended_heat_map') ? { cmap, vmin, vmax } : undefined;
  return { rgb, H: a.H, W: a.W, title: o.title, colorbar };
}

const MARGIN = 12, TEXT = 2;

/** Lays out panels side by side, each with its title above and its colorbar (with ticks) beside it. */
function compose(panels: Panel[], scaleOpt?: number): RgbImage {
  const scale = scaleOpt ?? Math.max(1, Math.ceil(224 / Math.max(...panels.map((p) => p.W))));
  const titleH = panels.some((p) => p.title) ? GLYPH_HEIGHT * TEXT + MARGIN : 0;
  const barW = 14, tickW = textWidth('-1.00', TEXT) + 10;
  // A title wider than its picture and colorbar widens the panel: it is never clipped.
  const widths = panels.map((p) => Math.max(p.W * scale + (p.colorbar ? barW + 6 + tickW : 0), p.title ? textWidth(p.title, TEXT) : 0));
  const height = MARGIN + titleH + Math.max(...panels.map((p) => p.H * scale)) + MARGIN;
  const width = MARGIN + widths.reduce((s, w) => s + w + MARGIN, 0);
  const cv = new Canvas(width, height);
  let x0 = MARGIN;
  panels.forEach((p, k) => {
    const y0 = MARGIN + titleH, w = p.W * scale, h = p.H * scale;
    if (p.title) cv.text(p.title, x0 + Math.max(0, Math.floor((w - textWidth(p.title, TEXT)) / 2)), MARGIN, TEXT);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const i = (Math.floor(y / scale) * p.W + Math.floor(x / scale)) * 3;
      cv.set(x0 + x, y0 + y, [p.rgb[i], p.rgb[i + 1], p.rgb[i + 2]]);
    }
    if (p.colorbar) {
      const { cmap, vmin, vmax } = p.colorbar, bx = x0 + w + 6;
      for (let y = 0; y < h; y++) {
        const c = colorAt(cmap, 1 - y / Math.max(1, h - 1));
        for (let x = 0; x < barW; x++) cv.set(bx + x, y0 + y, c);
      }
      for (let x = -1; x <= barW; x++) { cv.set(bx + x, y0 - 1, [0, 0, 0]); cv.set(bx + x, y0 + h, [0, 0, 0]); }
      for (let y = -1; y <= h; y++) { cv.set(bx - 1, y0 + y, [0, 0, 0]); cv.set(bx + barW, y0 + y, [0, 0, 0]); }
      const ticks = 5;
      for (let t = 0; t < ticks; t++) {
        const v = vmin + ((vmax - vmin) * t) / (ticks - 1);
        const y = y0 + Math.round((1 - t / (ticks - 1)) * (h - 1));
        for (let x = 0; x < 4; x++) cv.set(bx + barW + 1 + x, y, [0, 0, 0]);
        cv.text(v.toFixed(2), bx + barW + 8, Math.min(y0 + h - GLYPH_HEIGHT * TEXT, Math.max(y0, y - Math.floor((GLYPH_HEIGHT * TEXT) / 2))), TEXT);
      }
    }
    x0 += widths[k] + MARGIN;
  });
  return cv.toImage();
}

/** Captum's visualize_image_attr: one panel as an RGB figure. */
export function visualizeImageAttr(attr: HostArray | null, original: HostArray | null, opts: VisualizeOptions = {}): RgbImage {
  return compose([renderPanel(attr, original, opts)], opts.scale);
}

/** Captum's visualize_image_attr_multiple: one figure with a panel per method/sign pair, side by side. */
export function visualizeImageAttrMultiple(attr: HostArray | null, original: HostArray | null, methods: VisualizeMethod[], signs: VisualizeSign[],
  opts: Omit<VisualizeOptions, 'method' | 'sign' | 'title'> & { titles?: string[] } = {}): RgbImage {
  if (methods.length !== signs.length) throw new Error(`methods and signs must be as many (${methods.length} vs ${signs.length})`);
  if (opts.titles && opts.titles.length !== methods.length) throw new Error(`titles must be as many as methods (${opts.titles.length} vs ${methods.length})`);
  return compose(methods.map((method, i) => renderPanel(attr, original, { ...opts, method, sign: signs[i], title: opts.titles?.[i] })), opts.scale);
}

/** The panel alone at the attribution's size, without title, colorbar or margins: what a page overlays. */
export function renderImageAttr(attr: HostArray | null, original: HostArray | null, opts: Omit<VisualizeOptions, 'title' | 'showColorbar' | 'scale'> = {}): RgbImage {
  const p = renderPanel(attr, original, opts);
  return { width: p.W, height: p.H, data: Uint8Array.from(p.rgb, (v) => Math.round(Math.max(0, Math.min(1, v)) * 255)) };
}

/**
 * One horizontal bar per feature (a tabular input's attributions, as Captum Insights' GeneralFeature
 * shows them): names on the left, bars from a zero line scaled by the largest magnitude, positive
 * green and negative red, each value printed at its bar's end.
 */
export function visualizeFeatureBars(values: ArrayLike<number>, names: string[], opts: { title?: string } = {}): RgbImage {
  if (names.length !== values.length) throw new Error(`visualizeFeatureBars: ${values.length} values for ${names.length} names`);
  const scale = 2, rowH = 12 * scale, nameW = Math.max(...names.map((n) => textWidth(n, scale))) + 6 * scale;
  const barW = 200 * scale, pad = 8 * scale, top = opts.title ? 14 * scale : pad;
  const c = new Canvas(pad + nameW + barW + 60 * scale, top + names.length * rowH + pad);
  if (opts.title) c.text(opts.title, pad, pad / 2, scale);
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]));
  const zero = pad + nameW + barW / 2;
  names.forEach((name, i) => {
    const y = top + i * rowH, v = values[i], len = max > 0 ? Math.round((Math.abs(v) / max) * (barW / 2)) : 0;
    c.text(name, pad + nameW - textWidth(name, scale) - 4 * scale, y + (rowH - GLYPH_HEIGHT * scale) / 2, scale);
    const color = v >= 0 ? [0.17, 0.63, 0.17] : [0.84, 0.15, 0.16];
    for (let dy = 2 * scale; dy < rowH - 2 * scale; dy++) for (let dx = 0; dx < len; dx++) c.set(v >= 0 ? zero + dx : zero - 1 - dx, y + dy, color);
    const label = v.toPrecision(3);
    c.text(label, v >= 0 ? zero + len + 3 * scale : zero - len - 3 * scale - textWidth(label, scale), y + (rowH - GLYPH_HEIGHT * scale) / 2, scale, [0.3, 0.3, 0.3]);
  });
  for (let y = top; y < top + names.length * rowH; y++) c.set(zero, y, [0, 0, 0]);
  return c.toImage();
}
