// 2-D max pooling (PyTorch semantics: padding reads as -inf, the first maximum in scan order wins,
// a NaN wins) and its backward pass, which sends each output's gradient to the input that won.
struct Params {
  NC: i32, H: i32, W: i32, OH: i32, OW: i32,
  KH: i32, KW: i32, SH: i32, SW: i32, PH: i32, PW: i32, DH: i32, DW: i32,
}
@group(0) @binding(0) var<uniform> p: Params;
const WG = 64;

#if ${FORWARD}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<i32>; // index within the input plane

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let o = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (o >= p.NC * p.OH * p.OW) { return; }
  let plane = o / (p.OH * p.OW);
  let r = o - plane * p.OH * p.OW;
  let oh = r / p.OW;
  let ow = r - oh * p.OW;
  let base = plane * p.H * p.W;
  var best = -3.4028234e38;
  var found = false;
  var at = 0;
  for (var kh = 0; kh < p.KH; kh++) {
    let ih = oh * p.SH - p.PH + kh * p.DH;
    if (ih < 0 || ih >= p.H) { continue; }
    for (var kw = 0; kw < p.KW; kw++) {
      let iw = ow * p.SW - p.PW + kw * p.DW;
      if (iw < 0 || iw >= p.W) { continue; }
      let v = x[base + ih * p.W + iw];
      if (!found || v > best || v != v) {
        best = v;
        at = ih * p.W + iw;
        found = true;
        if (v != v) { break; }
      }
    }
  }
  y[o] = best;
  argmax[o] = at;
}
#else
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read> argmax: array<i32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;

// Gathers rather than scatters: each input pixel sums the gradients of the windows that cover it
// and chose it, so overlapping windows (3x3 stride 2) need no atomics.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (i >= p.NC * p.H * p.W) { return; }
  let plane = i / (p.H * p.W);
  let at = i - plane * p.H * p.W;
  let ih = at / p.W;
  let iw = at - ih * p.W;
  // Windows oh with oh*SH - PH <= ih <= oh*SH - PH + (KH-1)*DH.
  let oh0 = max(0, (ih + p.PH - (p.KH - 1) * p.DH + p.SH - 1) / p.SH);
  let oh1 = min(p.OH - 1, (ih + p.PH) / p.SH);
  let ow0 = max(0, (iw + p.PW - (p.KW - 1) * p.DW + p.SW - 1) / p.SW);
  let ow1 = min(p.OW - 1, (iw + p.PW) / p.SW);
  var s = 0.0;
  for (var oh = oh0; oh <= oh1; oh++) {
    for (var ow = ow0; ow <= ow1; ow++) {
      let o = (plane * p.OH + oh) * p.OW + ow;
      if (argmax[o] == at) { s += gy[o]; }
    }
  }
  gx[i] = s;
}
#endif
