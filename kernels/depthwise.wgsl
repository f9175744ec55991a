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
// BatchNorm and activation's backward as it loads (PROLOGUE), when no weight gradient needs it apart.
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
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
#if ${BIAS}
@group(0) @binding(3) var<storage, read> bias: array<f32>;
#endif
#if ${AFFINE}
@group(0) @binding(${SCALE_AT}) var<storage, read> scale: array<f32>;
@group(0) @binding(${SHIFT_AT}) var<storage, read> shift: array<f32>;
#endif
@group(0) @binding(${OUTPUT_AT}) var<storage, read_write> y: array<f32>;
alias ActT = f32;
#include "activation"

// The input patch of a TR x TC tile of outputs.
const PH = (TR - 1) * SH + (KH - 1) * DH + 1;
const PW = (TC - 1) * SW + (KW - 1) * DW + 1;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  var t: vec3<i32>;
  if (!tileOf(wid, nwg, lid, &t)) { return; }
  let plane = t.x;
  let c = plane % p.C;
  var wv: array<f32, KH * KW>;
  for (var j = 0; j < KH * KW; j++) { wv[j] = w[c * KH * KW + j]; }
  let ih0 = t.y * SH - PT;
  let iw0 = t.z * SW - PL;
  let base = plane * p.H * p.W;
  var xp: array<f32, PH * PW>;
  for (var a = 0; a < PH; a++) {
    let ih = ih0 + a;
    let rowIn = ih >= 0 && ih < p.H;
    let row = base + clamp(ih, 0, p.H - 1) * p.W;
    for (var b = 0; b < PW; b++) {
      let iw = iw0 + b;
      xp[a * PW + b] = select(0.0, x[row + clamp(iw, 0, p.W - 1)], rowIn && iw >= 0 && iw < p.W);
    }
  }
  var e = vec3<f32>(0.0, 1.0, 0.0);
#if ${BIAS}
  e.x = bias[c];
#endif
#if ${AFFINE}
  e.y = scale[c];
  e.z = shift[c];
#endif
  for (var i = 0; i < TR; i++) {
    let oh = t.y + i;
    if (oh >= p.OH) { break; }
    for (var j = 0; j < TC; j++) {
      let ow = t.z + j;
      if (ow >= p.OW) { break; }
      var s = 0.0;
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
      y[(plane * p.OH + oh) * p.OW + ow] = activate(s);
    }
  }
}
#else
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
#if ${PROLOGUE}
// The layer's fused BatchNorm and activation, backward, applied as the patch loads: gy is the
// gradient at the activation's output y, and the taps sum activationGrad(gy, y) * scale, the same
// bits the BatchNorm backward pass would have stored (kernels/channel.wgsl), without its pass.
@group(0) @binding(3) var<storage, read> yOut: array<f32>;
@group(0) @binding(4) var<storage, read> scale: array<f32>;
@group(0) @binding(5) var<storage, read_write> gx: array<f32>;
alias ActT = f32;
#include "activation"
#else
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
#endif

// gx[ih, iw] sums w[kh, kw] gy[(ih + PT - kh DH) / SH, (iw + PL - kw DW) / SW] where both divide
// exactly and land inside gy. A tile starts at a multiple of the stride (TR % SH == 0, TC % SW == 0),
// so which taps divide depends on the position within the tile only, and the rows and columns of gy
// a tile reads are its first ones / the stride plus RMIN .. RMAX (CMIN .. CMAX), set by the host.
const RMIN = ${RMIN};
const CMIN = ${CMIN};
const PH = ${RMAX} - RMIN + 1;
const PW = ${CMAX} - CMIN + 1;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  var t: vec3<i32>;
  if (!tileOf(wid, nwg, lid, &t)) { return; }
  let plane = t.x;
  let c = plane % p.C;
  var wv: array<f32, KH * KW>;
  for (var j = 0; j < KH * KW; j++) { wv[j] = w[c * KH * KW + j]; }
  let r0 = t.y / SH + RMIN;
  let c0 = t.z / SW + CMIN;
  let base = plane * p.OH * p.OW;
#if ${PROLOGUE}
  let sc = scale[c];
#endif
  var gp: array<f32, PH * PW>;
  for (var a = 0; a < PH; a++) {
    let r = r0 + a;
    let rowIn = r >= 0 && r < p.OH;
    let row = base + clamp(r, 0, p.OH - 1) * p.OW;
    for (var b = 0; b < PW; b++) {
      let col = c0 + b;
      let at = row + clamp(col, 0, p.OW - 1);
#if ${PROLOGUE}
      let g = activationGrad(gy[at], yOut[at]) * sc;
#else
      let g = gy[at];
#endif
      gp[a * PW + b] = select(0.0, g, rowIn && col >= 0 && col < p.OW);
    }
  }
  for (var i = 0; i < TR; i++) {
    let ih = t.y + i;
    if (ih >= p.H) { break; }
    for (var j = 0; j < TC; j++) {
      let iw = t.z + j;
      if (iw >= p.W) { break; }
      var s = 0.0;
      for (var kh = 0; kh < KH; kh++) {
        let a = i + PT - kh * DH;
        if (a % SH != 0) { continue; }
        for (var kw = 0; kw < KW; kw++) {
          let b = j + PL - kw * DW;
          if (b % SW != 0) { continue; }
          s += wv[kh * KW + kw] * gp[(a / SH - RMIN) * PW + b / SW - CMIN];
        }
      }
      gx[(plane * p.H + ih) * p.W + iw] = s;
    }
  }
}
#endif
