/** A colormap: a value in [0, 1] to RGB in [0, 1], quantized to `n` levels as matplotlib's lookup tables. */
export interface Colormap {
  name: string;
  stops: [number, [number, number, number]][];
  n: number;
}

export function hexColor(hex: string): [number, number, number] {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex.trim());
  if (!m) throw new Error(`'${hex}' is not a #rrggbb color`);
  const v = parseInt(m[1], 16);
  return [((v >> 16) & 255) / 255, ((v >> 8) & 255) / 255, (v & 255) / 255];
}

/**
 * A colormap from color stops, as matplotlib's LinearSegmentedColormap.from_list: stops at positions
 * in [0, 1] (the first at 0, the last at 1), or colors alone, spaced evenly.
 */
export function colormapFromStops(name: string, stops: (string | [number, string])[], n = 256): Colormap {
  if (stops.length < 2) throw new Error(`colormap '${name}' needs at least two colors`);
  const list = stops.map((s, i): [number, [number, number, number]] => (typeof s === 'string' ? [i / (stops.length - 1), hexColor(s)] : [s[0], hexColor(s[1])]));
  if (list[0][0] !== 0 || list[list.length - 1][0] !== 1 || list.some((s, i) => i > 0 && s[0] < list[i - 1][0])) {
    throw new Error(`colormap '${name}': stop positions must rise from 0 to 1`);
  }
  return { name, stops: list, n };
}

/** The color of v in [0, 1] (clipped): matplotlib picks lookup-table entry floor(v * n), an evenly spaced sample of the stops. */
export function colorAt(cmap: Colormap, v: number): [number, number, number] {
  const i = Math.min(cmap.n - 1, Math.max(0, Math.floor((Number.isNaN(v) ? 0 : v) * cmap.n)));
  const x = cmap.n === 1 ? 0 : i / (cmap.n - 1);
  const s = cmap.stops;
  let k = 1;
  while (k < s.length - 1 && s[k][0] < x) k++;
  const [x0, c0] = s[k - 1], [x1, c1] = s[k];
  const t = x1 === x0 ? 0 : (x - x0) / (x1 - x0);
  return [c0[0] + (c1[0] - c0[0]) * t, c0[1] + (c1[1] - c0[1]) * t, c0[2] + (c1[2] - c0[2]) * t];
}

// ColorBrewer's sequential 9-class palettes, which matplotlib's Greens, Reds and Blues interpolate.
export const COLORMAPS: Record<string, Colormap> = {
  RdWhGn: colormapFromStops('RdWhGn', ['#ff0000', '#ffffff', '#008000']), // Captum's map for sign 'all'
  Greens: colormapFromStops('Greens', ['#f7fcf5', '#e5f5e0', '#c7e9c0', '#a1d99b', '#74c476', '#41ab5d', '#238b45', '#006d2c', '#00441b']),
  Reds: colormapFromStops('Reds', ['#fff5f0', '#fee0d2', '#fcbba1', '#fc9272', '#fb6a4a', '#ef3b2c', '#cb181d', '#a50f15', '#67000d']),
  Blues: colormapFromStops('Blues', ['#f7fbff', '#deebf7', '#c6dbef', '#9ecae1', '#6baed6', '#4292c6', '#2171b5', '#08519c', '#08306b']),
  gray: colormapFromStops('gray', ['#000000', '#ffffff']),
  // The Captum tutorial's "custom blue" shape (white, a saturated color at a quarter, darker to the
  // end), in blue: white -> blue -> navy.
  'custom blue': colormapFromStops('custom blue', [[0, '#ffffff'], [0.25, '#1f5fd6'], [1, '#0a1f5c']]),
};
