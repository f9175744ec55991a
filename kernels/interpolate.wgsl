// Resizing of NCHW planes as torch.nn.functional.interpolate: 'nearest' (source = floor(dst * in/out))
// and 'bilinear' with align_corners=False (source = (dst + 0.5) * in/out - 0.5, clamped at 0).
// The backward pass gathers, for each input pixel, the outputs whose taps touch it (no atomics);
// the weights are separable, so it loops over a few rows times a few columns.
struct Params { planes: i32, H: i32, W: i32, OH: i32, OW: i32, sh: f32, sw: f32, }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
const WG = 64;
const BILINEAR = ${BILINEAR} == 1;

struct Taps { i0: i32, i1: i32, w1: f32, }

// Source taps of output coordinate d along an axis of input length n at scale s = in/out.
fn taps(d: i32, n: i32, s: f32) -> Taps {
  if (BILINEAR) {
    let src = max((f32(d) + 0.5) * s - 0.5, 0.0);
    let i0 = min(i32(floor(src)), n - 1);
    let i1 = min(i0 + 1, n - 1);
    return Taps(i0, i1, src - f32(i0));
  }
  let i0 = min(i32(floor(f32(d) * s)), n - 1);
  return Taps(i0, i0, 0.0);
}

// Weight of input index i in output coordinate d.
fn weight(d: i32, i: i32, n: i32, s: f32) -> f32 {
  let t = taps(d, n, s);
  var w = 0.0;
  if (t.i0 == i) { w += 1.0 - t.w1; }
  if (t.i1 == i) { w += t.w1; }
  return w;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let o = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
#if ${BACKWARD}
  // x is the output gradient [planes, OH, OW], y the input gradient [planes, H, W].
  if (o >= p.planes * p.H * p.W) { return; }
  let plane = o / (p.H * p.W);
  let r = o - plane * p.H * p.W;
  let ih = r / p.W;
  let iw = r - ih * p.W;
  // Outputs that can reach this pixel lie within 2 source pixels of it.
  let oh0 = max(0, i32(floor(f32(ih - 2) / p.sh)) - 1);
  let oh1 = min(p.OH - 1, i32(ceil(f32(ih + 2) / p.sh)) + 1);
  let ow0 = max(0, i32(floor(f32(iw - 2) / p.sw)) - 1);
  let ow1 = min(p.OW - 1, i32(ceil(f32(iw + 2) / p.sw)) + 1);
  var s = 0.0;
  for (var oh = oh0; oh <= oh1; oh++) {
    let wy = weight(oh, ih, p.H, p.sh);
    if (wy == 0.0) { continue; }
    for (var ow = ow0; ow <= ow1; ow++) {
      let wx = weight(ow, iw, p.W, p.sw);
      if (wx != 0.0) { s += wy * wx * x[(plane * p.OH + oh) * p.OW + ow]; }
    }
  }
  y[o] = s;
#else
  if (o >= p.planes * p.OH * p.OW) { return; }
  let plane = o / (p.OH * p.OW);
  let r = o - plane * p.OH * p.OW;
  let oh = r / p.OW;
  let ow = r - oh * p.OW;
  let ty = taps(oh, p.H, p.sh);
  let tx = taps(ow, p.W, p.sw);
  let base = plane * p.H * p.W;
  let top = (1.0 - tx.w1) * x[base + ty.i0 * p.W + tx.i0] + tx.w1 * x[base + ty.i0 * p.W + tx.i1];
  let bottom = (1.0 - tx.w1) * x[base + ty.i1 * p.W + tx.i0] + tx.w1 * x[base + ty.i1 * p.W + tx.i1];
  y[o] = (1.0 - ty.w1) * top + ty.w1 * bottom;
#endif
}
