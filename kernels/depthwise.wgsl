// Depthwise 2-D convolution (one input and one output channel per group: MobileNets', EfficientNets'):
// the forward pass, optionally with a BatchNorm's affine map and an activation after it, and the
// input gradient. Each lane walks down one plane's column of TR x TC tiles (TC = 4 neighbouring
// values of a row; TR = 1 row forward, one per stride backward), `rounds` of them: each round loads
// only the patch rows its tile does not share with the one above, and the shared ones stay in
// registers. A 3x3 stride-1 forward loads one patch row (and stores one tile row) per 4 outputs, where
// a 4 x 4 tile per lane loads 6 rows and the 9 weights per 16. Depthwise layers are memory-bound and
// on lavapipe each load costs as much as ~40 fma, so the loads are the cost.
// The geometry (kernel, stride, dilation, leading pads) is compile-time, so the tap loops unroll
// into straight register arithmetic and the input gradient's divisibility tests fold away; sizes
// stay uniforms. Each value sums its taps in (kh, kw) order as kernels/grouped.wgsl does; taps
// outside the input add w * 0. Lanes are flat over (plane, chunk of a column, tile column), so a 7x7
// plane of 960 channels keeps them as busy as a 112x112 one (the host splits columns into chunks
// where planes are few). The input gradient can take the fused BatchNorm and activation's backward
// as it loads (PROLOGUE), when no weight gradient needs it apart, and the backward of those that made
// its input as it stores (INPUT_AFFINE: kernels/input-affine.wgsl).
// Where rows hold a multiple of 4 (or 2) values and tiles start on such a multiple, the patch loads
// as aligned vec4s (vec2s) and the tile's rows store as vec4s (vec2s): VIN and VOUT values at a
// time, InT and OutT (src/autograd/ops/grouped.ts chooses them). lavapipe loads a vector per lane for
// much less than its values one by one, even with a patch row's outer vectors only partly used.
struct Params { planes: i32, C: i32, H: i32, W: i32, OH: i32, OW: i32, tilesH: i32, tilesW: i32, rounds: i32, chunks: i32 }
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

/** This lane's plane and the first row and column of its first tile; false past the last lane. */
fn tileOf(wid: vec3u, nwg: vec3u, lid: vec3u, t: ptr<function, vec3<i32>>) -> bool {
  let i = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  let strips = p.chunks * p.tilesW;
  if (i >= p.planes * strips) { return false; }
  let plane = i / strips;
  let r = i - plane * strips;
  let chunk = r / p.tilesW;
  *t = vec3<i32>(plane, chunk * p.rounds * TR, (r - chunk * p.tilesW) * TC);
  return true;
}

#if ${FORWARD}
// The input patch of a TR x TC tile of outputs; the next tile down starts ADV rows of the input lower.
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
#if ${FORWARD}
const ADV = TR * SH;
#else
const ADV = TR / SH; // rows of gy from one tile's patch to the next's
#endif
// VIN > 1: the patch's first column sits LEAD columns before a multiple of VIN (set by the host);
// QL vectors lie left of that column and QN cover a patch row.
const VIN = ${VIN};
const VOUT = ${VOUT};
#if ${VEC_IN}
alias InT = vec${VIN}<f32>;
#else
alias InT = f32;
#endif
#if ${VEC_OUT}
alias OutT = vec${VOUT}<f32>;
#else
alias OutT = f32;
#endif
const LEAD = ${LEAD};
const QL = (LEAD + VIN - 1) / VIN;
const QN = QL + (PW - LEAD + VIN - 1) / VIN;

#if ${FORWARD}
@group(0) @binding(1) var<storage, read> x: array<InT>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
#if ${BIAS}
@group(0) @binding(3) var<storage, read> bias: array<f32>;
#endif
#if ${AFFINE}
@group(0) @binding(${SCALE_AT}) var<storage, read> scale: array<f32>;
@group(0) @binding(${SHIFT_AT}) var<storage, read> shift: array<f32>;
#endif
#else
@group(0) @binding(1) var<storage, read> gy: array<InT>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
#if ${PROLOGUE}
// The layer's fused BatchNorm and activation, backward, applied as the patch loads: gy is the
// gradient at the activation's output y, and the taps sum activationGrad(gy, y) * scale, the same
// bits the BatchNorm backward pass would have stored (kernels/channel.wgsl), without its pass.
@group(0) @binding(3) var<storage, read> yOut: array<InT>;
@group(0) @binding(4) var<storage, read> scale: array<f32>;
#endif
#endif
@group(0) @binding(${OUTPUT_AT}) var<storage, read_write> out: array<OutT>;
alias ActT = f32;
#include "activation"
alias InputT = OutT;
#include "input-affine"

var<private> sc: f32; // PROLOGUE: the channel's BatchNorm scale

/** The values the patch holds for VIN neighbouring positions, at an InT index: the input (forward), or the gradient at the output. */
fn operand(at: i32) -> InT {
#if ${FORWARD}
  return x[at];
#elif ${PROLOGUE}
  let g = gy[at];
  let y = yOut[at];
#if ${VEC_IN}
  var v: InT;
  for (var k = 0; k < VIN; k++) { v[k] = activationGrad(g[k], y[k]) * sc; }
  return v;
#else
  return activationGrad(g, y) * sc;
#endif
#else
  return gy[at];
#endif
}

/** Row a of v, the PH x PW patch of a rows x cols plane starting at flat index base, from row r0 and column c0; zero outside. */
fn loadRow(v: ptr<function, array<f32, PH * PW>>, a: i32, base: i32, r0: i32, c0: i32, rows: i32, cols: i32) {
  let r = r0 + a;
  let rowIn = r >= 0 && r < rows;
  let row = base + clamp(r, 0, rows - 1) * cols;
#if ${VEC_IN}
  // The loops unroll, so v's indices are constants and it stays in registers.
  let q0 = (c0 + LEAD) / VIN - QL;
  for (var q = 0; q < QN; q++) {
    let colv = q0 + q;
    let block = select(InT(0.0), operand(row / VIN + clamp(colv, 0, cols / VIN - 1)), rowIn && colv >= 0 && colv < cols / VIN);
    for (var k = 0; k < VIN; k++) {
      let b = (q - QL) * VIN + k + LEAD;
      if (b >= 0 && b < PW) { (*v)[a * PW + b] = block[k]; }
    }
  }
#else
  for (var b = 0; b < PW; b++) {
    let col = c0 + b;
    (*v)[a * PW + b] = select(0.0, operand(row + clamp(col, 0, cols - 1)), rowIn && col >= 0 && col < cols);
  }
#endif
}

/** Element k of a stored vector (OutT), or the value itself (VOUT == 1). */
fn lane(v: OutT, k: i32) -> f32 {
#if ${VEC_OUT}
  return v[k];
#else
  return v;
#endif
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
  let base = plane * p.H * p.W;
  let r0 = t.y * SH - PT;
  let c0 = t.z * SW - PL;
  let inRows = p.H;
  let inCols = p.W;
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
  let base = plane * p.OH * p.OW;
  let r0 = t.y / SH + RMIN;
  let c0 = t.z / SW + CMIN;
  let inRows = p.OH;
  let inCols = p.OW;
  let rows = p.H;
  let cols = p.W;
#endif
  // The patch: its first PH - ADV rows before the first round (as if left by a round before it), its
  // last ADV rows each round, then every row moves up ADV rows for the next tile. The loops over
  // rows and columns unroll, so v stays in registers.
  var v: array<f32, PH * PW>;
  for (var a = 0; a < PH - ADV; a++) { loadRow(&v, a, base, r0, c0, inRows, inCols); }
  for (var round = 0; round < p.rounds; round++) {
    let y0 = t.y + round * TR;
    if (y0 >= rows) { break; }
    for (var a = max(PH - ADV, 0); a < PH; a++) { loadRow(&v, a, base, r0 + round * ADV, c0, inRows, inCols); }
    // The tile's sums, then its stores: kept apart, each loop stays small enough to unroll (v and o
    // indexed by constants, in registers) with any epilogue.
    var o: array<f32, TR * TC>;
    for (var i = 0; i < TR; i++) {
      for (var j = 0; j < TC; j++) {
        var s = 0.0;
#if ${FORWARD}
        for (var kh = 0; kh < KH; kh++) {
          for (var kw = 0; kw < KW; kw++) {
            s += wv[kh * KW + kw] * v[(i * SH + kh * DH) * PW + j * SW + kw * DW];
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
            s += wv[kh * KW + kw] * v[(a / SH - RMIN) * PW + b / SW - CMIN];
          }
        }
#endif
        o[i * TC + j] = s;
      }
    }
    for (var i = 0; i < TR; i++) {
      let r = y0 + i;
      if (r >= rows) { break; }
      // Stores of VOUT values; with VOUT > 1 rows hold whole vectors, so one is wholly in or out.
      let at = ((plane * rows + r) * cols + t.z) / VOUT;
      for (var g = 0; g < TC / VOUT; g++) {
        if (t.z + g * VOUT >= cols) { break; }
        var ov: OutT;
#if ${INPUT_AFFINE}
        let xv = xIn[at + g];
#endif
        for (var k = 0; k < VOUT; k++) {
          var s = o[i * TC + g * VOUT + k];
#if ${INPUT_AFFINE}
          s = inputAffine(s, lane(xv, k), xs);
#endif
#if ${VEC_OUT}
          ov[k] = s;
#else
          ov = s;
#endif
        }
        out[at + g] = ov;
      }
    }
    for (var a = 0; a < PH - ADV; a++) {
      for (var b = 0; b < PW; b++) { v[a * PW + b] = v[(a + ADV) * PW + b]; }
    }
  }
}
