// Plain float64 CPU implementations of the ops, the references for the GPU kernels in the tests.

export interface ConvRef { stride?: [number, number]; padding?: [number, number]; dilation?: [number, number] }

export function conv2dRef(x: ArrayLike<number>, xs: number[], w: ArrayLike<number>, ws: number[], bias: ArrayLike<number> | null, o: ConvRef = {}) {
  const [N, C, H, W] = xs, [K, , KH, KW] = ws;
  const [SH, SW] = o.stride ?? [1, 1], [PH, PW] = o.padding ?? [0, 0], [DH, DW] = o.dilation ?? [1, 1];
  const OH = Math.floor((H + 2 * PH - DH * (KH - 1) - 1) / SH) + 1, OW = Math.floor((W + 2 * PW - DW * (KW - 1) - 1) / SW) + 1;
  const y = new Float64Array(N * K * OH * OW);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let s = bias ? bias[k] : 0;
    for (let c = 0; c < C; c++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const ih = oh * SH - PH + kh * DH, iw = ow * SW - PW + kw * DW;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      s += w[((k * C + c) * KH + kh) * KW + kw] * x[((n * C + c) * H + ih) * W + iw];
    }
    y[((n * K + k) * OH + oh) * OW + ow] = s;
  }
  return { y, shape: [N, K, OH, OW] };
}

export function maxPoolRef(x: ArrayLike<number>, xs: number[], k: number | [number, number], s: number | [number, number], p: number | [number, number], d: number | [number, number] = 1) {
  const [N, C, H, W] = xs;
  const two = (v: number | [number, number]) => (typeof v === 'number' ? [v, v] : v);
  const [KH, KW] = two(k), [SH, SW] = two(s), [PH, PW] = two(p), [DH, DW] = two(d);
  const OH = Math.floor((H + 2 * PH - DH * (KH - 1) - 1) / SH) + 1, OW = Math.floor((W + 2 * PW - DW * (KW - 1) - 1) / SW) + 1;
  const y = new Float64Array(N * C * OH * OW);
  for (let pl = 0; pl < N * C; pl++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let m = -Infinity;
    for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const ih = oh * SH - PH + kh * DH, iw = ow * SW - PW + kw * DW;
      if (ih >= 0 && ih < H && iw >= 0 && iw < W) m = Math.max(m, x[(pl * H + ih) * W + iw]);
    }
    y[(pl * OH + oh) * OW + ow] = m;
  }
  return { y, shape: [N, C, OH, OW] };
}

export function interpolateRef(x: ArrayLike<number>, xs: number[], OH: number, OW: number, mode: 'nearest' | 'bilinear') {
  const [N, C, H, W] = xs;
  const y = new Float64Array(N * C * OH * OW);
  const taps = (d: number, n: number, s: number): [number, number, number] => {
    if (mode === 'nearest') { const i = Math.min(Math.floor(d * s), n - 1); return [i, i, 0]; }
    const src = Math.max((d + 0.5) * s - 0.5, 0);
    const i0 = Math.min(Math.floor(src), n - 1);
    return [i0, Math.min(i0 + 1, n - 1), src - i0];
  };
  for (let pl = 0; pl < N * C; pl++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const [y0, y1, ly] = taps(oh, H, H / OH), [x0, x1, lx] = taps(ow, W, W / OW);
    const at = (i: number, j: number) => x[(pl * H + i) * W + j];
    y[(pl * OH + oh) * OW + ow] = (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) + ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1));
  }
  return y;
}

export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number) {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += a[m * K + k] * b[k * N + n];
    c[m * N + n] = s;
  }
  return c;
}

export function softmaxRef(x: ArrayLike<number>, rows: number, L: number) {
  const y = new Float64Array(rows * L);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity, s = 0;
    for (let j = 0; j < L; j++) m = Math.max(m, x[r * L + j]);
    for (let j = 0; j < L; j++) s += Math.exp(x[r * L + j] - m);
    for (let j = 0; j < L; j++) y[r * L + j] = Math.exp(x[r * L + j] - m) / s;
  }
  return y;
}

/** The gradient of conv2dRef's output to its input, for an output gradient gy (the adjoint sum, float64). */
export function conv2dGradInputRef(gy: ArrayLike<number>, w: ArrayLike<number>, ws: number[], xs: number[], o: ConvRef = {}): Float64Array {
  const [N, C, H, W] = xs, [K, , KH, KW] = ws;
  const [SH, SW] = o.stride ?? [1, 1], [PH, PW] = o.padding ?? [0, 0], [DH, DW] = o.dilation ?? [1, 1];
  const OH = Math.floor((H + 2 * PH - DH * (KH - 1) - 1) / SH) + 1, OW = Math.floor((W + 2 * PW - DW * (KW - 1) - 1) / SW) + 1;
  const gx = new Float64Array(N * C * H * W);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const g = gy[((n * K + k) * OH + oh) * OW + ow];
    for (let c = 0; c < C; c++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const ih = oh * SH - PH + kh * DH, iw = ow * SW - PW + kw * DW;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      gx[((n * C + c) * H + ih) * W + iw] += w[((k * C + c) * KH + kh) * KW + kw] * g;
    }
  }
  return gx;
}
