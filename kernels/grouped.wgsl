// Grouped 2-D convolution (ONNX Conv with group > 1; depthwise when each group has one input
// channel), with asymmetric padding: the forward pass, the input gradient and the weight gradient.
// Output channel k belongs to group k / KG (KG = K / groups) and reads input channels
// g * CG .. g * CG + CG - 1 (CG = C / groups); w is [K, CG, KH, KW]. Each output value sums its
// CG * KH * KW taps in (c, kh, kw) order. Depthwise layers take kernels/depthwise.wgsl for the
// forward and the input gradient; the weight gradient of every grouped layer is here.
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

// Lanes cover an 8 x 8 tile of output positions; workgroups loop over the (image, channel) planes
// with the stride of z (planeGrid in src/autograd/ops/launch.ts): no division per lane, and each
// lane finds the taps inside the input once, outside the plane loop, so the sums need no bounds tests.
@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let ow = i32(wid.x * 8 + lid.x);
  let oh = i32(wid.y * 8 + lid.y);
  if (ow >= p.OW || oh >= p.OH) { return; }
  let ih0 = oh * p.SH - p.PT;
  let iw0 = ow * p.SW - p.PL;
  // Taps kh with 0 <= ih0 + kh * DH < H, and likewise kw.
  let kh0 = select(0, (-ih0 + p.DH - 1) / p.DH, ih0 < 0);
  let kh1 = min(p.KH, (p.H - ih0 + p.DH - 1) / p.DH);
  let kw0 = select(0, (-iw0 + p.DW - 1) / p.DW, iw0 < 0);
  let kw1 = min(p.KW, (p.W - iw0 + p.DW - 1) / p.DW);
  for (var plane = i32(wid.z); plane < p.N * p.K; plane += i32(nwg.z)) {
    let k = plane % p.K;
    let n = plane / p.K;
    let c0 = (k / p.KG) * p.CG;
    var s = 0.0;
    for (var c = 0; c < p.CG; c++) {
      let xBase = ((n * p.C + c0 + c) * p.H + ih0) * p.W + iw0;
      let wBase = (k * p.CG + c) * p.KH;
      for (var kh = kh0; kh < kh1; kh++) {
        let xRow = xBase + kh * p.DH * p.W;
        let wRow = (wBase + kh) * p.KW;
        for (var kw = kw0; kw < kw1; kw++) {
          s += w[wRow + kw] * x[xRow + kw * p.DW];
        }
      }
    }
#if ${BIAS}
    s += bias[k];
#endif
    y[(plane * p.OH + oh) * p.OW + ow] = s;
  }
}
#elif ${GRAD_INPUT}
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;

// Each input value gathers the outputs whose windows cover it: oh = (ih + PT - kh * DH) / SH where
// that divides exactly and lands inside the output. Lanes cover 8 x 8 input positions and loop over
// the (image, channel) planes, as the forward pass.
@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let iw = i32(wid.x * 8 + lid.x);
  let ih = i32(wid.y * 8 + lid.y);
  if (iw >= p.W || ih >= p.H) { return; }
  for (var plane = i32(wid.z); plane < p.N * p.C; plane += i32(nwg.z)) {
    let c = plane % p.C;
    let n = plane / p.C;
    let g = c / p.CG;
    let cg = c - g * p.CG;
    var s = 0.0;
    for (var kk = 0; kk < p.KG; kk++) {
      let k = g * p.KG + kk;
      let gyBase = (n * p.K + k) * p.OH;
      let wBase = (k * p.CG + cg) * p.KH;
      for (var kh = 0; kh < p.KH; kh++) {
        let th = ih + p.PT - kh * p.DH;
        if (th < 0 || th % p.SH != 0 || th / p.SH >= p.OH) { continue; }
        let gyRow = (gyBase + th / p.SH) * p.OW;
        let wRow = (wBase + kh) * p.KW;
        for (var kw = 0; kw < p.KW; kw++) {
          let tw = iw + p.PL - kw * p.DW;
          if (tw < 0 || tw % p.SW != 0 || tw / p.SW >= p.OW) { continue; }
          s += w[wRow + kw] * gy[gyRow + tw / p.SW];
        }
      }
    }
    gx[(plane * p.H + ih) * p.W + iw] = s;
  }
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
