// Depthwise 2-D convolution (one input and one output channel per group: MobileNets', EfficientNets'):
// the forward pass, optionally with a BatchNorm's affine map and an activation after it, and the
// input gradient. Each lane makes a TR x TC tile of neighbouring values of one plane from the patch
// of values they share, loaded once into registers: a 3x3 stride-1 forward loads 36 inputs and 9
// weights for 16 outputs, where a lane per output loads 18 per output. Depthwise layers are
// memory-bound and on lavapipe each load costs as much as ~40 fma, so the loads are the cost.
// The geometry (kernel, stride, dilation, leading pads) is compile-time, so the tap loops unroll
// into straight register arithmetic and the input gradient's divisibility tests fold away; sizes
// stay uniforms. Each value sums its taps in (kh, kw) order as kernels/grouped.wgsl does; taps
// outside the input add w * 0. Lanes are flat over (plane, tile row, tile column), so a 7x7 plane
// of 960 channels keeps them as busy as a 112x112 one. The input gradient can take the fused
// BatchNorm and activation's backward as it loads (PROLOGUE), when no weight gradient needs it apart,
// and the backward of those that made its input as it stores (INPUT_AFFINE: kernels/input-affine.wgsl).
// Where rows hold a multiple of 4 values and tiles are 4 wide, the patch loads as aligned vec4s
// (VEC_IN) and the tile's rows store as vec4s (VEC_OUT): lavapipe loads a vec4 per lane for much
// less than four scalars, even with a patch row's outer vec4s only partly used.
struct Params { planes: i32, C: i32, H: i32, W: i32, OH: i32, OW: i32, tilesH: i32, tilesW: i32 }
@group(0) @binding(0) var<uniform> p: Params;
const KH = ${KH};
const KW = ${KW};
const SH = ${SH};
const SW = ${SW};
const DH = ${DH};
const DW = ${DW};
const PT = ${PT};
const PL = ${PL};
const TR = ${TR};
const TC = ${TC};
const WG = 64;

/** This lane's plane and the first row and column of its tile; false past the last tile. */
fn tileOf(wid: vec3u, nwg: vec3u, lid: vec3u, t: ptr<function, vec3<i32>>) -> bool {
  let i = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  let tiles = p.tilesH * p.tilesW;
  if (i >= p.planes * tiles) { return false; }
  let plane = i / tiles;
  let r = i - plane * tiles;
  let th = r / p.tilesW;
  *t = vec3<i32>(plane, th * TR, (r - th * p.tilesW) * TC);
  return true;
}

#if ${FORWARD}
// The input patch of a TR x TC tile of outputs.
const PH = (TR - 1) * SH + (KH - 1) * DH + 1;
const PW = (TC - 1) * SW + (KW - 1) * DW + 1;
#else
// gx[ih, iw] sums w[kh, kw] gy[(ih + PT - kh DH) / SH, (iw + PL - kw DW) / SW] where both divide
// exactly and land inside gy. A tile starts at a multiple of the stride (TR % SH == 0, TC % SW == 0),
// so which taps divide depends on the position within the tile only, and the rows and columns of gy
// a tile reads are its first ones / the stride plus RMIN .. RMAX (CMIN .. CMAX), set by the host.
const RMIN = ${RMIN};
const CMIN = ${CMIN};
const PH = ${RMAX} - RMIN + 1;
const PW = ${CMAX} - CMIN + 1;
#endif
// VEC_IN: the patch's first column sits LEAD columns before a multiple of 4 (set by the host); QL
// vec4s lie left of that column and QN cover a patch row.
const LEAD = ${LEAD};
const QL = (LEAD + 3) / 4;
const QN = QL + (PW - LEAD + 3) / 4;

#if ${FORWARD}
#if ${VEC_IN}
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
#endif
@group(0) @binding(2) var<storage, read> w: array<f32>;
#if ${BIAS}
@group(0) @binding(3) var<storage, read> bias: array<f32>;
#endif
#if ${AFFINE}
@group(0) @binding(${SCALE_AT}) var<storage, read> scale: array<f32>;
@group(0) @binding(${SHIFT_AT}) var<storage, read> shift: array<f32>;
#endif
#if ${VEC_OUT}
@group(0) @binding(${OUTPUT_AT}) var<storage, read_write> out: array<vec4<f32>>;
#else
@group(0) @binding(${OUTPUT_AT}) var<storage, read_write> out: array<f32>;
#endif
#else
#if ${VEC_IN}
@group(0) @binding(1) var<storage, read> gy: array<vec4<f32>>;
#else
@group(0) @binding(1) var<storage, read> gy: array<f32>;
#endif
@group(0) @binding(2) var<storage, read> w: array<f32>;
#if ${PROLOGUE}
// The layer's fused BatchNorm and activation, backward, applied as the patch loads: gy is the
// gradient at the activation's output y, and the taps sum activationGrad(gy, y) * scale, the same
// bits the BatchNorm backward pass would have stored (kernels/channel.wgsl), without its pass.
#if ${VEC_IN}
@group(0) @binding(3) var<storage, read> yOut: array<vec4<f32>>;
#else
@group(0) @binding(3) var<storage, read> yOut: array<f32>;
#endif
@group(0) @binding(4) var<storage, read> scale: array<f32>;
#endif
#if ${VEC_OUT}
@group(0) @binding(${OUTPUT_AT}) var<storage, read_write> out: array<vec4<f32>>;
#else
@group(0) @binding(${OUTPUT_AT}) var<storage, read_write> out: array<f32>;
#endif
#endif
alias ActT = f32;
#include "activation"
#if ${VEC_OUT}
alias InputT = vec4<f32>;
#else
alias InputT = f32;
#endif
#include "input-affine"

var<private> sc: f32; // PROLOGUE: the channel's BatchNorm scale

#if ${VEC_IN}
/** The values the patch holds for four neighbouring positions, at a vec4 index. */
fn operand4(at: i32) -> vec4<f32> {
#if ${FORWARD}
  return x[at];
#elif ${PROLOGUE}
  let g = gy[at];
  let y = yOut[at];
  var v: vec4<f32>;
  for (var k = 0; k < 4; k++) { v[k] = activationGrad(g[k], y[k]) * sc; }
  return v;
#else
  return gy[at];
#endif
}
#else
/** The value the patch holds for a position: the input (forward), or the gradient at the output. */
fn operand(at: i32) -> f32 {
#if ${FORWARD}
  return x[at];
#elif ${PROLOGUE}
  return activationGrad(gy[at], yOut[at]) * sc;
#else
  return gy[at];
#endif
}

#endif

/** The PH x PW patch of a rows x cols plane starting at flat index base, from row r0 and column c0; zero outside. */
fn loadPatch(base: i32, r0: i32, c0: i32, rows: i32, cols: i32) -> array<f32, PH * PW> {
  var v: array<f32, PH * PW>;
  for (var a = 0; a < PH; a++) {
    let r = r0 + a;
    let rowIn = r >= 0 && r < rows;
    let row = base + clamp(r, 0, rows - 1) * cols;
#if ${VEC_IN}
    // The loops unroll, so v's indices are constants and it stays in registers.
    let q0 = (c0 + LEAD) / 4 - QL;
    for (var q = 0; q < QN; q++) {
      let col4 = q0 + q;
      let block = select(vec4<f32>(0.0), operand4(row / 4 + clamp(col4, 0, cols / 4 - 1)), rowIn && col4 >= 0 && col4 < cols / 4);
      for (var k = 0; k < 4; k++) {
        let b = (q - QL) * 4 + k + LEAD;
        if (b >= 0 && b < PW) { v[a * PW + b] = block[k]; }
      }
    }
#else
    for (var b = 0; b < PW; b++) {
      let col = c0 + b;
      v[a * PW + b] = select(0.0, operand(row + clamp(col, 0, cols - 1)), rowIn && col >= 0 && col < cols);
    }
#endif
  }
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  var t: vec3<i32>;
  if (!tileOf(wid, nwg, lid, &t)) { return; }
  let plane = t.x;
  let c = plane % p.C;
  var wv: array<f32, KH * KW>;
  for (var j = 0; j < KH * KW; j++) { wv[j] = w[c * KH * KW + j]; }
#if ${FORWARD}
  let xp = loadPatch(plane * p.H * p.W, t.y * SH - PT, t.z * SW - PL, p.H, p.W);
  var e = vec3<f32>(0.0, 1.0, 0.0);
#if ${BIAS}
  e.x = bias[c];
#endif
#if ${AFFINE}
  e.y = scale[c];
  e.z = shift[c];
#endif
  let rows = p.OH;
  let cols = p.OW;
#else
#if ${PROLOGUE}
  sc = scale[c];
#endif
#if ${INPUT_AFFINE}
  let xs = xScale[c];
#endif
  let gp = loadPatch(plane * p.OH * p.OW, t.y / SH + RMIN, t.z / SW + CMIN, p.OH, p.OW);
  let rows = p.H;
  let cols = p.W;
#endif
  for (var i = 0; i < TR; i++) {
    let r = t.y + i;
    if (r >= rows) { break; }
#if ${VEC_OUT}
    var o: vec4<f32>; // the tile's row: TC == 4
#endif
    for (var j = 0; j < TC; j++) {
      if (t.z + j >= cols) { break; }
      var s = 0.0;
#if ${FORWARD}
      for (var kh = 0; kh < KH; kh++) {
        for (var kw = 0; kw < KW; kw++) {
          s += wv[kh * KW + kw] * xp[(i * SH + kh * DH) * PW + j * SW + kw * DW];
        }
      }
#if ${BIAS}
      s += e.x;
#endif
#if ${AFFINE}
      s = s * e.y + e.z;
#endif
      s = activate(s);
#else
      for (var kh = 0; kh < KH; kh++) {
        let a = i + PT - kh * DH;
        if (a % SH != 0) { continue; }
        for (var kw = 0; kw < KW; kw++) {
          let b = j + PL - kw * DW;
          if (b % SW != 0) { continue; }
          s += wv[kh * KW + kw] * gp[(a / SH - RMIN) * PW + b / SW - CMIN];
        }
      }
#endif
#if ${VEC_OUT}
      o[j] = s;
#else
      let at = (plane * rows + r) * cols + t.z + j;
#if ${INPUT_AFFINE}
      s = inputAffine(s, xIn[at], xs);
#endif
      out[at] = s;
#endif
    }
#if ${VEC_OUT}
    let at4 = ((plane * rows + r) * cols + t.z) / 4;
#if ${INPUT_AFFINE}
    let xv = xIn[at4];
    for (var k = 0; k < 4; k++) { o[k] = inputAffine(o[k], xv[k], xs); }
#endif
    out[at4] = o;
#endif
  }
}
