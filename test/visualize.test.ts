import { suite } from 'uvu';
import { PNG } from 'pngjs';
import { COLORMAPS, colorAt, colormapFromStops } from '../src/io/colormap.ts';
import { encodePng } from '../src/io/image-decode.ts';
import { cumulativeSumThreshold, normalizeAttr, visualizeImageAttr, visualizeImageAttrMultiple } from '../src/io/visualize.ts';
import { glyphPixel, textWidth } from '../src/io/font.ts';

const test = suite('visualize');
const near = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6) => a.length === b.length && Array.from(a).every((v, i) => Math.abs(v - b[i]) <= tol);

test('a title wider than its panel widens the figure instead of being clipped; NaN attributions draw as 0', () => {
  const title = 'integrated-gradients (class 285, Egyptian cat)';
  const attr = { data: Float32Array.from({ length: 3 * 8 * 8 }, (_, i) => (i % 5 === 0 ? NaN : Math.sin(i))), shape: [3, 8, 8] };
  const fig = visualizeImageAttr(attr, null, { method: 'heat_map', sign: 'absolute_value', title, scale: 2 });
  if (fig.width < textWidth(title, 2) + 24) throw new Error(`figure ${fig.width} px wide for a title of ${textWidth(title, 2)} px`);
  // The title's last glyph has ink: some pixel of its column range in the title row is dark.
  let ink = false;
  for (let y = 12; y < 12 + 14; y++) for (let x = 12 + textWidth(title, 2) - 10; x < 12 + textWidth(title, 2); x++) if (fig.data[(y * fig.width + x) * 3] < 128) ink = true;
  if (!ink) throw new Error('the end of the title is not drawn');
});

test('cumulative-sum threshold: the smallest sorted value whose running sum reaches the percentile', () => {
  // sorted 1, 2, 3, 4 (sum 10): 98% needs 9.8 -> reached at 4; 50% needs 5 -> at 3 (1+2+3 = 6); 10% -> at 1.
  if (cumulativeSumThreshold([4, 1, 3, 2], 98) !== 4) throw new Error('98%');
  if (cumulativeSumThreshold([4, 1, 3, 2], 50) !== 3) throw new Error('50%');
  if (cumulativeSumThreshold([4, 1, 3, 2], 10) !== 1) throw new Error('10%');
});

test('normalization: channels summed, each sign filtered, scaled by the threshold and clipped', () => {
  // 2 channels of 2x2: sums are [2, -4, 6, 0]
  const attr = { data: [1, -1, 2, 0, 1, -3, 4, 0], shape: [2, 2, 2] };
  // all: |sums| sorted 0, 2, 4, 6 (sum 12); 98% -> 11.76 -> threshold 6
  if (!near(normalizeAttr(attr, 'all'), [2 / 6, -4 / 6, 1, 0])) throw new Error(`all: ${normalizeAttr(attr, 'all')}`);
  // positive: [2, 0, 6, 0]; threshold 6
  if (!near(normalizeAttr(attr, 'positive'), [2 / 6, 0, 1, 0])) throw new Error('positive');
  // negative: [0, -4, 0, 0]; threshold -4 -> values in [0, 1]
  if (!near(normalizeAttr(attr, 'negative'), [0, 1, 0, 0])) throw new Error('negative');
  // absolute value with outlierPerc 50: sorted 0, 2, 4, 6; 50% of 12 = 6 -> reached at 4 (0+2+4); 6/4 clips to 1
  if (!near(normalizeAttr(attr, 'absolute_value', 50), [0.5, 1, 1, 0])) throw new Error(`abs: ${normalizeAttr(attr, 'absolute_value', 50)}`);
  let msg = '';
  try { normalizeAttr({ data: [-1, -2, 0, -3], shape: [1, 2, 2] }, 'positive'); } catch (e) { msg = (e as Error).message; }
  if (!msg.includes('none is positive')) throw new Error(`an empty sign must be a clear error, got '${msg}'`);
});

test("colormaps: Captum's defaults at their ends and middles, and custom stops", () => {
  const hex = (c: number[]) => c.map((v) => Math.round(v * 255).toString(16).padStart(2, '0')).join('');
  const cases: [string, number, string][] = [['Greens', 0, 'f7fcf5'], ['Greens', 1, '00441b'], ['Reds', 1, '67000d'], ['Blues', 0, 'f7fbff'],
    ['Blues', 1, '08306b'], ['RdWhGn', 0, 'ff0000'], ['RdWhGn', 1, '008000'], ['gray', 0, '000000'], ['gray', 1, 'ffffff']];
  for (const [name, v, want] of cases) if (hex(colorAt(COLORMAPS[name], v)) !== want) throw new Error(`${name}(${v}) = ${hex(colorAt(COLORMAPS[name], v))}, expected ${want}`);
  // The middle of RdWhGn is white (matplotlib's 256-entry table puts 0.5 at entry 128, just past white).
  const mid = colorAt(COLORMAPS.RdWhGn, 0.5);
  if (!(mid[0] > 0.99 && mid[1] > 0.99 && mid[2] > 0.98)) throw new Error(`RdWhGn middle ${mid}`);
  const wb = colormapFromStops('white to blue', [[0, '#ffffff'], [0.5, '#0000ff'], [1, '#000080']], 3);
  if (hex(colorAt(wb, 0)) !== 'ffffff' || hex(colorAt(wb, 0.5)) !== '0000ff' || hex(colorAt(wb, 1)) !== '000080') throw new Error('custom stops');
});

test('a rendered figure round-trips through PNG; panels differ; the hottest pixels sit on the largest attribution', () => {
  const H = 16, W = 16;
  const attr = new Float32Array(3 * H * W);
  for (let c = 0; c < 3; c++) for (let y = 10; y < 14; y++) for (let x = 2; x < 6; x++) attr[c * H * W + y * W + x] = 1; // a hot square
  attr[5 * W + 12] = 0.05;
  const image = new Float32Array(3 * H * W).fill(0.5);
  const fig = visualizeImageAttrMultiple({ data: attr, shape: [1, 3, H, W] }, { data: image, shape: [3, H, W] },
    ['original_image', 'heat_map'], ['all', 'positive'], { titles: ['Original', 'Heat'], scale: 4, showColorbar: true });
  const png = PNG.sync.read(encodePng(fig));
  if (png.width !== fig.width || png.height !== fig.height) throw new Error('size changed');
  const heatOnly = visualizeImageAttr({ data: attr, shape: [3, H, W] }, null, { sign: 'positive', scale: 1 });
  // In the lone heat map (margins of 12), the darkest green pixel lies in the hot square.
  let best = Infinity, at = [0, 0];
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const o = ((12 + y) * heatOnly.width + 12 + x) * 3;
    const lum = heatOnly.data[o] + heatOnly.data[o + 1] + heatOnly.data[o + 2];
    if (lum < best) { best = lum; at = [y, x]; }
  }
  if (!(at[0] >= 10 && at[0] < 14 && at[1] >= 2 && at[1] < 6)) throw new Error(`hottest pixel at ${at}`);
  // The two panels of the figure differ.
  const titleH = 7 * 2 + 12;
  let diff = 0;
  for (let y = 0; y < H * 4; y++) for (let x = 0; x < W * 4; x++) {
    const o1 = ((12 + titleH + y) * fig.width + 12 + x) * 3, o2 = ((12 + titleH + y) * fig.width + 12 + W * 4 + 12 + x) * 3;
    diff += Math.abs(fig.data[o1] - fig.data[o2]);
  }
  if (diff === 0) throw new Error('the panels are identical');
});

test('errors: masked_image with sign all, a missing original image, mismatched sizes', () => {
  const attr = { data: new Float32Array(12).fill(1), shape: [3, 2, 2] };
  const img = { data: new Float32Array(12).fill(0.5), shape: [3, 2, 2] };
  const cases: [() => unknown, string][] = [
    [() => visualizeImageAttr(attr, img, { method: 'masked_image', sign: 'all' }), 'both positive and negative'],
    [() => visualizeImageAttr(attr, null, { method: 'blended_heat_map', sign: 'positive' }), 'needs the original image'],
    [() => visualizeImageAttr(attr, { data: new Float32Array(27), shape: [3, 3, 3] }, { method: 'blended_heat_map' }), 'interpolate the attributions'],
    [() => visualizeImageAttr(attr, img, { method: 'sparkles' as never }), 'unknown visualization method'],
  ];
  for (const [fn, msg] of cases) {
    let got = '';
    try { fn(); } catch (e) { got = (e as Error).message; }
    if (!got.includes(msg)) throw new Error(`expected '${msg}', got '${got}'`);
  }
});

test('the bitmap font draws digits distinguishably', () => {
  const bits = (c: string) => Array.from({ length: 35 }, (_, i) => glyphPixel(c, i % 5, Math.floor(i / 5))).join();
  const digits = '0123456789.-'.split('').map(bits);
  if (new Set(digits).size !== digits.length) throw new Error('two glyphs are identical');
});

test.run();
