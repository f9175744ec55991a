#if ${SUBGROUP}
enable subgroups;
#endif
// 3x3 stride-1 convolution by Winograd's minimal filtering F(m x m, 3x3) (Lavin & Gray, 2015), with
// A = m + 2 transform points: each m x m block of outputs ("tile") costs A^2 multiplies per
// (input, output) channel pair instead of 9 m^2: F(2x2) 16 for 4 outputs, F(4x4) 36 for 16.
//
//   U[xi, c, k] = (G g G^T)[xi]      g: the 3x3 filter of (k, c)              WEIGHT (once per weight)
//   V[xi, c, t] = (B^T d B)[xi]      d: the A x A input patch under tile t    INPUT
//   M[xi, k, t] = sum over c of U[xi, c, k] * V[xi, c, t]                     GEMM (A^2 of them)
//   y[tile t]   = A^T M[., k, t] A   the m x m outputs                        OUTPUT
//
// and the weight gradient by the adjoint of the same chain (V from INPUT, as in the forward):
//
//   dM[xi, t, k] = (A dy A^T)[xi]    dy: the m x m output gradient of tile t  GRAD_OUTPUT
//   dU[xi, c, k] = sum over t of V[xi, c, t] * dM[xi, t, k]                   GRAD_GEMM (split over t)
//   dg           = G^T dU G          summed over the splits                   GRAD_WEIGHT
//
// xi = A * row + column runs over the A^2 points of the transform; tiles t are flattened over
// (batch, tile row, tile column). U's channel dimension is padded with zeros to KP (a multiple of
// 4), so the GEMM reads four output channels per uniform vec4 load.
struct Params {
  N: i32, C: i32, H: i32, W: i32,
  K: i32, OH: i32, OW: i32, PH: i32, PW: i32,
  TH: i32, TW: i32, KP: i32,
  flip: i32, // WEIGHT: read w as [C, K, 3, 3] rotated by 180 degrees (the input gradient's filter)
  splits: i32, chunk: i32, // GRAD_GEMM, GRAD_WEIGHT: the sum over tiles in `splits` parts of `chunk` tiles
}
@group(0) @binding(0) var<uniform> p: Params;

// The register tile of the GEMM stages (placeholders in the others): TM rows, TN columns WG lanes apart.
const TM = ${TM};
const TN = ${TN};
const WG = ${WG};

#include "register-tile"

#if ${F4}
// F(4x4, 3x3) with the points 0, +-1, +-2 and infinity.
const M = 4;
const A = 6;
const BT = array<f32, 36>(
  4.0, 0.0, -5.0, 0.0, 1.0, 0.0,
  0.0, -4.0, -4.0, 1.0, 1.0, 0.0,
  0.0, 4.0, -4.0, -1.0, 1.0, 0.0,
  0.0, -2.0, -1.0, 2.0, 1.0, 0.0,
  0.0, 2.0, -1.0, -2.0, 1.0, 0.0,
  0.0, 4.0, 0.0, -5.0, 0.0, 1.0);
const G = array<f32, 18>(
  0.25, 0.0, 0.0,
  -1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0,
  -1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0,
  1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0,
  1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0,
  0.0, 0.0, 1.0);
const AT = array<f32, 24>(
  1.0, 1.0, 1.0, 1.0, 1.0, 0.0,
  0.0, 1.0, -1.0, 2.0, -2.0, 0.0,
  0.0, 1.0, 1.0, 4.0, 4.0, 0.0,
  0.0, 1.0, -1.0, 8.0, -8.0, 1.0);
#else
// F(2x2, 3x3) with the points 0, +-1 and infinity.
const M = 2;
const A = 4;
const BT = array<f32, 16>(
  1.0, 0.0, -1.0, 0.0,
  0.0, 1.0, 1.0, 0.0,
  0.0, -1.0, 1.0, 0.0,
  0.0, 1.0, 0.0, -1.0);
const G = array<f32, 12>(
  1.0, 0.0, 0.0,
  0.5, 0.5, 0.5,
  0.5, -0.5, 0.5,
  0.0, 0.0, 1.0);
const AT = array<f32, 8>(
  1.0, 1.0, 1.0, 0.0,
  0.0, 1.0, -1.0, -1.0);
#endif

// Tile t's image and the output row and column of its top-left corner: (b, oh0, ow0).
fn tileCorner(tile: i32) -> vec3<i32> {
  let b = tile / (p.TH * p.TW);
  let r = tile - b * p.TH * p.TW;
  let th = r / p.TW;
  return vec3<i32>(b, M * th, M * (r - th * p.TW));
}

#if ${WEIGHT}
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> u: array<f32>; // [A*A, C, KP]

// One invocation per (c, k) with k < KP; k >= K writes the zero padding.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let k = i32(gid.x);
  let c = i32(gid.y);
  if (k >= p.KP || c >= p.C) { return; }
  var g: array<f32, 9>;
  if (k < p.K) {
    for (var i = 0; i < 9; i++) {
      if (p.flip != 0) { g[i] = w[(c * p.K + k) * 9 + 8 - i]; } else { g[i] = w[(k * p.C + c) * 9 + i]; }
    }
  }
  var t: array<f32, A * 3>; // G g
  for (var i = 0; i < A; i++) {
    for (var j = 0; j < 3; j++) {
      t[3 * i + j] = G[3 * i] * g[j] + G[3 * i + 1] * g[3 + j] + G[3 * i + 2] * g[6 + j];
    }
  }
  for (var i = 0; i < A; i++) {
    for (var j = 0; j < A; j++) { // (G g) G^T
      let value = t[3 * i] * G[3 * j] + t[3 * i + 1] * G[3 * j + 1] + t[3 * i + 2] * G[3 * j + 2];
      u[((A * i + j) * p.C + c) * p.KP + k] = value;
    }
  }
}
#endif

#if ${INPUT}
@group(0) @binding(1) var<storage, read> x: array<f32>;              // [N, C, H, W]
@group(0) @binding(2) var<storage, read_write> v: array<f32>;        // [A*A, C, T]

// One invocation per (tile, channel); neighbouring lanes hold neighbouring tiles.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let T = p.N * p.TH * p.TW;
  let tile = i32(gid.x);
  let c = i32(gid.y);
  if (tile >= T || c >= p.C) { return; }
  let at = tileCorner(tile);
  let ih0 = at.y - p.PH;
  let iw0 = at.z - p.PW;
  let base = (at.x * p.C + c) * p.H * p.W;
  var d: array<f32, A * A>;
  for (var i = 0; i < A; i++) {
    let ih = ih0 + i;
    for (var j = 0; j < A; j++) {
      let iw = iw0 + j;
      let ok = ih >= 0 && ih < p.H && iw >= 0 && iw < p.W;
      d[A * i + j] = select(0.0, x[select(0, base + ih * p.W + iw, ok)], ok);
    }
  }
  var t: array<f32, A * A>; // B^T d
  for (var i = 0; i < A; i++) {
    for (var j = 0; j < A; j++) {
      var s = 0.0;
      for (var l = 0; l < A; l++) { s += BT[A * i + l] * d[A * l + j]; }
      t[A * i + j] = s;
    }
  }
  for (var i = 0; i < A; i++) {
    for (var j = 0; j < A; j++) { // (B^T d) B
      var s = 0.0;
      for (var l = 0; l < A; l++) { s += t[A * i + l] * BT[A * j + l]; }
      v[((A * i + j) * p.C + c) * T + tile] = s;
    }
  }
}
#endif

#if ${GEMM}
// Each invocation accumulates a TM x TN register tile: TM output channels shared by the workgroup
// (uniform vec4 loads of U) by TN tiles WG apart (neighbouring lanes read neighbouring tiles).
// Scalar loads of V, as in the direct kernels: on lavapipe a per-lane vec4 load costs 3 scalar
// ones, and vec4 accumulators measured 10-15 GFLOP/s against 15-21 for this form.
@group(0) @binding(1) var<storage, read> u: array<vec4<f32>>;  // [A*A, C, KP]
@group(0) @binding(2) var<storage, read> v: array<f32>;        // [A*A, C, T]
@group(0) @binding(3) var<storage, read_write> m: array<f32>;  // [A*A, K, T]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
#if ${SUBGROUP}
        @builtin(subgroup_invocation_id) lane: u32,
#endif
) {
  let T = p.N * p.TH * p.TW;
  let xi = i32(wid.z);
  let k0 = i32(wid.y) * TM;
  let t0 = i32(wid.x) * (WG * TN) + i32(lid.x);
  var acc: array<array<f32, TN>, TM>;
  var ui = (xi * p.C * p.KP + k0) / 4;
  var vi = xi * p.C * T;
  for (var c = 0; c < p.C; c++) {
    var vv: array<f32, TN>;
    for (var j = 0; j < TN; j++) {
      let t = t0 + j * WG;
      vv[j] = select(0.0, v[select(0, vi + t, t < T)], t < T);
    }
#if ${SUBGROUP}
    let rows = shareRows(u[ui + i32(lane % (TM / 4))]);
    for (var i4 = 0; i4 < TM / 4; i4++) {
      rankOneUpdate(&acc, i4, rows[i4], &vv);
    }
#else
    for (var i4 = 0; i4 < TM / 4; i4++) {
      rankOneUpdate(&acc, i4, u[ui + i4], &vv);
    }
#endif
    ui += p.KP / 4;
    vi += T;
  }
  for (var i = 0; i < TM; i++) {
    let k = k0 + i;
    if (k < p.K) {
      for (var j = 0; j < TN; j++) {
        let t = t0 + j * WG;
        if (t < T) {
          m[(xi * p.K + k) * T + t] = acc[i][j];
        }
      }
    }
  }
}
#endif

#if ${OUTPUT}
@group(0) @binding(1) var<storage, read> m: array<f32>;              // [A*A, K, T]
#if ${BIAS}
@group(0) @binding(2) var<storage, read> bias: array<f32>;
#endif
// An input gradient may apply its input's producer's BatchNorm and activation backward as it stores.
alias ActT = f32;
#include "activation"
alias InputT = f32;
#include "input-affine"
@group(0) @binding(${OUTPUT_AT}) var<storage, read_write> y: array<f32>; // [N, K, OH, OW]

// One invocation per (tile, output channel): the m x m outputs A^T M A, clipped at the border.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let T = p.N * p.TH * p.TW;
  let tile = i32(gid.x);
  let k = i32(gid.y);
  if (tile >= T || k >= p.K) { return; }
  var mm: array<f32, A * A>;
  for (var xi = 0; xi < A * A; xi++) {
    mm[xi] = m[(xi * p.K + k) * T + tile];
  }
  var t: array<f32, M * A>; // A^T M
  for (var i = 0; i < M; i++) {
    for (var j = 0; j < A; j++) {
      var s = 0.0;
      for (var l = 0; l < A; l++) { s += AT[A * i + l] * mm[A * l + j]; }
      t[A * i + j] = s;
    }
  }
#if ${BIAS}
  let add = bias[k];
#else
  let add = 0.0;
#endif
#if ${INPUT_AFFINE}
  let scale = xScale[k];
#endif
  let at = tileCorner(tile);
  let oh0 = at.y;
  let ow0 = at.z;
  let base = (at.x * p.K + k) * p.OH * p.OW;
  for (var i = 0; i < M; i++) {
    for (var j = 0; j < M; j++) { // (A^T M) A
      var s = add;
      for (var l = 0; l < A; l++) { s += t[A * i + l] * AT[A * j + l]; }
      if (oh0 + i < p.OH && ow0 + j < p.OW) {
        let o = base + (oh0 + i) * p.OW + ow0 + j;
#if ${INPUT_AFFINE}
        s = inputAffine(s, xIn[o], scale);
#endif
        y[o] = s;
      }
    }
  }
}
#endif

#if ${GRAD_OUTPUT}
@group(0) @binding(1) var<storage, read> gy: array<f32>;       // [N, K, OH, OW]
@group(0) @binding(2) var<storage, read_write> dm: array<f32>; // [A*A, T, KP]

// One invocation per (output channel k < KP, tile); lanes run over k, so the stores are contiguous.
// Tiles are spread over y and z (beyond 65535 of them at large batches). k >= K writes the padding.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let T = p.N * p.TH * p.TW;
  let k = i32(gid.x);
  let tile = i32(gid.z * nwg.y + gid.y);
  if (k >= p.KP || tile >= T) { return; }
  let at = tileCorner(tile);
  let oh0 = at.y;
  let ow0 = at.z;
  var d: array<f32, M * M>;
  if (k < p.K) {
    let base = (at.x * p.K + k) * p.OH * p.OW;
    for (var i = 0; i < M; i++) {
      for (var j = 0; j < M; j++) {
        let ok = oh0 + i < p.OH && ow0 + j < p.OW;
        d[M * i + j] = select(0.0, gy[select(0, base + (oh0 + i) * p.OW + ow0 + j, ok)], ok);
      }
    }
  }
  var t: array<f32, A * M>; // A dy: (A x m)
  for (var l = 0; l < A; l++) {
    for (var j = 0; j < M; j++) {
      var s = 0.0;
      for (var i = 0; i < M; i++) { s += AT[A * i + l] * d[M * i + j]; }
      t[M * l + j] = s;
    }
  }
  for (var l = 0; l < A; l++) {
    for (var rr = 0; rr < A; rr++) { // (A dy) A^T
      var s = 0.0;
      for (var j = 0; j < M; j++) { s += t[M * l + j] * AT[A * j + rr]; }
      dm[((A * l + rr) * T + tile) * p.KP + k] = s;
    }
  }
}
#endif

#if ${GRAD_GEMM}
// dU for TM output channels (uniform vec4 loads of dM) by TN input channels per invocation (WG
// apart), summed over this split's tiles; wid.z = xi * splits + split.
@group(0) @binding(1) var<storage, read> dm: array<vec4<f32>>; // [A*A, T, KP]
@group(0) @binding(2) var<storage, read> v: array<f32>;        // [A*A, C, T]
@group(0) @binding(3) var<storage, read_write> du: array<f32>; // [splits, A*A, K, C]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
#if ${SUBGROUP}
        @builtin(subgroup_invocation_id) lane: u32,
#endif
) {
  let T = p.N * p.TH * p.TW;
  let xi = i32(wid.z) / p.splits;
  let split = i32(wid.z) - xi * p.splits;
  let k0 = i32(wid.y) * TM;
  let c0 = i32(wid.x) * (WG * TN) + i32(lid.x);
  let start = split * p.chunk;
  let end = min(start + p.chunk, T);
  var row: array<i32, TN>; // where each column's channel starts in V (channels past C read channel 0)
  for (var j = 0; j < TN; j++) {
    let c = c0 + j * WG;
    row[j] = (xi * p.C + select(0, c, c < p.C)) * T;
  }
  var acc: array<array<f32, TN>, TM>;
  var di = ((xi * T + start) * p.KP + k0) / 4;
  for (var t = start; t < end; t++) {
    var vv: array<f32, TN>;
    for (var j = 0; j < TN; j++) {
      vv[j] = v[row[j] + t];
    }
#if ${SUBGROUP}
    let rows = shareRows(dm[di + i32(lane % (TM / 4))]);
    for (var i4 = 0; i4 < TM / 4; i4++) {
      rankOneUpdate(&acc, i4, rows[i4], &vv);
    }
#else
    for (var i4 = 0; i4 < TM / 4; i4++) {
      rankOneUpdate(&acc, i4, dm[di + i4], &vv);
    }
#endif
    di += p.KP / 4;
  }
  let base = (split * A * A + xi) * p.K * p.C;
  for (var i = 0; i < TM; i++) {
    let k = k0 + i;
    if (k < p.K) {
      for (var j = 0; j < TN; j++) {
        let c = c0 + j * WG;
        if (c < p.C) {
          du[base + k * p.C + c] = acc[i][j];
        }
      }
    }
  }
}
#endif

#if ${GRAD_WEIGHT}
@group(0) @binding(1) var<storage, read> du: array<f32>;       // [splits, A*A, K, C]
@group(0) @binding(2) var<storage, read_write> gw: array<f32>; // [K, C, 3, 3]

// One invocation per (c, k): the splits summed, then dg = G^T dU G.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c = i32(gid.x);
  let k = i32(gid.y);
  if (c >= p.C || k >= p.K) { return; }
  var u: array<f32, A * A>;
  for (var split = 0; split < p.splits; split++) {
    for (var xi = 0; xi < A * A; xi++) {
      u[xi] += du[((split * A * A + xi) * p.K + k) * p.C + c];
    }
  }
  var t: array<f32, 3 * A>; // G^T dU (3 x A)
  for (var a = 0; a < 3; a++) {
    for (var rr = 0; rr < A; rr++) {
      var s = 0.0;
      for (var l = 0; l < A; l++) { s += G[3 * l + a] * u[A * l + rr]; }
      t[A * a + rr] = s;
    }
  }
  for (var a = 0; a < 3; a++) {
    for (var bb = 0; bb < 3; bb++) { // (G^T dU) G
      var s = 0.0;
      for (var rr = 0; rr < A; rr++) { s += t[A * a + rr] * G[3 * rr + bb]; }
      gw[((k * p.C + c) * 3 + a) * 3 + bb] = s;
    }
  }
}
#endif
