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
// and chose it, so overlapping windows (3x3 stride 2) need no atomics. Workgroups run over rows (y)
// and planes (z), so a row's window range is uniform; each lane owns the SW input columns that start
// at its window column, so finding the windows over a pixel takes no per-lane division (slow on
// SIMD CPUs such as lavapipe).
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let ow = i32(wid.x * WG + lid.x);
  let ih = i32(wid.y);
  if (ow * p.SW - p.PW >= p.W) { return; }
  // Windows oh with oh*SH - PH <= ih <= oh*SH - PH + (KH-1)*DH.
  let oh0 = max(0, (ih + p.PH - (p.KH - 1) * p.DH + p.SH - 1) / p.SH);
  let oh1 = min(p.OH - 1, (ih + p.PH) / p.SH);
  let span = (p.KW - 1) * p.DW;
  for (var plane = i32(wid.z); plane < p.NC; plane += i32(nwg.z)) {
    for (var t = 0; t < p.SW; t++) {
      let iw = ow * p.SW - p.PW + t;
      if (iw < 0 || iw >= p.W) { continue; }
      let at = ih * p.W + iw;
      var s = 0.0;
      for (var oh = oh0; oh <= oh1; oh++) {
        let row = (plane * p.OH + oh) * p.OW;
        // Window ow - j starts j*SW + t columns left of iw.
        for (var j = 0; j * p.SW + t <= span; j++) {
          let o = ow - j;
          if (o >= 0 && o < p.OW && argmax[row + o] == at) { s += gy[row + o]; }
        }
      }
      gx[plane * p.H * p.W + at] = s;
    }
  }
}
#endif
