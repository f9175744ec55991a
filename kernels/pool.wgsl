// 2-D max pooling (PyTorch's CPU semantics: padding reads as -inf, the first maximum in scan order
// wins, a NaN wins and the last NaN of a window wins) and its backward pass, which sends each
// output's gradient to the input that won.
struct Params {
  NC: i32, H: i32, W: i32, OH: i32, OW: i32,
  KH: i32, KW: i32, SH: i32, SW: i32, PH: i32, PW: i32, DH: i32, DW: i32,
  GH: i32, GW: i32, gh: i32, gw: i32, // backward: the window group of this pass
}
@group(0) @binding(0) var<uniform> p: Params;
const WG = 64;

#if ${FORWARD}
#include "nan"

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
      if (!found || v > best || isNan(v)) {
        best = v;
        at = ih * p.W + iw;
        found = true; // a later NaN replaces an earlier one, as PyTorch's CPU kernel
      }
    }
  }
  y[o] = best;
  argmax[o] = at;
}
#else
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read> argmax: array<i32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>; // zeroed before the first pass

// Scatters: each output adds its gradient to the input that won its window. Windows GH rows (GW
// columns) apart do not overlap, so the outputs (gh + GH i, gw + GW j) of one pass write distinct
// inputs and need no atomics; GH x GW passes cover every output, one after another. Lanes cover an
// 8 x 8 tile of the pass's outputs, workgroups loop over planes (z; planeGrid in
// src/autograd/ops/launch.ts): no per-lane division. Against a
// gather (each input checks the windows over it: 2.25 argmax loads per input at 3x3 stride 2) it
// loads each output's argmax and gradient once: 145-200 against 242-292 ms for ResNet's stem pool
// at batch 16 on lavapipe, 98-120 ms once the zeros came from clearBuffer (ops.fill).
@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let ow = p.gw + p.GW * i32(wid.x * 8 + lid.x);
  let oh = p.gh + p.GH * i32(wid.y * 8 + lid.y);
  if (ow >= p.OW || oh >= p.OH) { return; }
  for (var plane = i32(wid.z); plane < p.NC; plane += i32(nwg.z)) {
    let o = (plane * p.OH + oh) * p.OW + ow;
    let at = plane * p.H * p.W + argmax[o];
    gx[at] += gy[o];
  }
}
#endif
