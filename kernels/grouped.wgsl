// Grouped 2-D convolution (ONNX Conv with group > 1; depthwise when each group has one input
// channel), with asymmetric padding: the forward pass, the input gradient and the weight gradient.
// Output channel k belongs to group k / KG (KG = K / groups) and reads input channels
// g * CG .. g * CG + CG - 1 (CG = C / groups); w is [K, CG, KH, KW]. Depthwise layers are
// memory-bound: one invocation per output value, its CG * KH * KW taps summed in (c, kh, kw) order.
struct Params {
  N: i32, C: i32, H: i32, W: i32, K: i32, OH: i32, OW: i32,
  KH: i32, KW: i32, SH: i32, SW: i32, PT: i32, PL: i32, DH: i32, DW: i32,
  CG: i32, KG: i32,
}
@group(0) @binding(0) var<uniform> p: Params;
const WG = 64;

#if ${FORWARD}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
#if ${BIAS}
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#else
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let o = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (o >= p.N * p.K * p.OH * p.OW) { return; }
  let ow = o % p.OW;
  let oh = (o / p.OW) % p.OH;
  let k = (o / (p.OW * p.OH)) % p.K;
  let n = o / (p.OW * p.OH * p.K);
  let c0 = (k / p.KG) * p.CG;
  var s = 0.0;
  for (var c = 0; c < p.CG; c++) {
    let plane = (n * p.C + c0 + c) * p.H;
    for (var kh = 0; kh < p.KH; kh++) {
      let ih = oh * p.SH - p.PT + kh * p.DH;
      if (ih < 0 || ih >= p.H) { continue; }
      for (var kw = 0; kw < p.KW; kw++) {
        let iw = ow * p.SW - p.PL + kw * p.DW;
        if (iw < 0 || iw >= p.W) { continue; }
        s += w[((k * p.CG + c) * p.KH + kh) * p.KW + kw] * x[(plane + ih) * p.W + iw];
      }
    }
  }
#if ${BIAS}
  s += bias[k];
#endif
  y[o] = s;
}
#elif ${GRAD_INPUT}
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;

// Each input value gathers the outputs whose windows cover it: oh = (ih + PT - kh * DH) / SH where
// that divides exactly and lands inside the output.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (i >= p.N * p.C * p.H * p.W) { return; }
  let iw = i % p.W;
  let ih = (i / p.W) % p.H;
  let c = (i / (p.W * p.H)) % p.C;
  let n = i / (p.W * p.H * p.C);
  let g = c / p.CG;
  let cg = c - g * p.CG;
  var s = 0.0;
  for (var kk = 0; kk < p.KG; kk++) {
    let k = g * p.KG + kk;
    for (var kh = 0; kh < p.KH; kh++) {
      let th = ih + p.PT - kh * p.DH;
      if (th < 0 || th % p.SH != 0 || th / p.SH >= p.OH) { continue; }
      let oh = th / p.SH;
      for (var kw = 0; kw < p.KW; kw++) {
        let tw = iw + p.PL - kw * p.DW;
        if (tw < 0 || tw % p.SW != 0 || tw / p.SW >= p.OW) { continue; }
        s += w[((k * p.CG + cg) * p.KH + kh) * p.KW + kw] * gy[((n * p.K + k) * p.OH + oh) * p.OW + tw / p.SW];
      }
    }
  }
  gx[i] = s;
}
#else
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> gw: array<f32>;

// One workgroup per weight: its lanes split the N * OH * OW terms, then a tree sum in workgroup memory.
var<workgroup> part: array<f32, WG>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let j = i32(wid.y * nwg.x + wid.x);
  let valid = j < p.K * p.CG * p.KH * p.KW;
  let kw = j % p.KW;
  let kh = (j / p.KW) % p.KH;
  let cg = (j / (p.KW * p.KH)) % p.CG;
  let k = j / (p.KW * p.KH * p.CG);
  let c = (k / p.KG) * p.CG + cg;
  var s = 0.0;
  if (valid) {
    for (var t = i32(lid.x); t < p.N * p.OH * p.OW; t += WG) {
      let ow = t % p.OW;
      let oh = (t / p.OW) % p.OH;
      let n = t / (p.OW * p.OH);
      let ih = oh * p.SH - p.PT + kh * p.DH;
      let iw = ow * p.SW - p.PL + kw * p.DW;
      if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) { continue; }
      s += gy[((n * p.K + k) * p.OH + oh) * p.OW + ow] * x[((n * p.C + c) * p.H + ih) * p.W + iw];
    }
  }
  part[lid.x] = s;
  workgroupBarrier();
  for (var half = WG / 2; half > 0; half /= 2) {
    if (i32(lid.x) < half) { part[lid.x] += part[i32(lid.x) + half]; }
    workgroupBarrier();
  }
  if (valid && lid.x == 0u) { gw[j] = part[0]; }
}
#endif
