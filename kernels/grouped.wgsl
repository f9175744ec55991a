// Grouped 2-D convolution (ONNX Conv with group > 1; depthwise when each group has one input
// channel), with asymmetric padding: the forward pass, the input gradient and the weight gradient.
// Output channel k belongs to group k / KG (KG = K / groups) and reads input channels
// g * CG .. g * CG + CG - 1 (CG = C / groups); w is [K, CG, KH, KW]. Each output value sums its
// CG * KH * KW taps in (c, kh, kw) order. Depthwise layers are memory-bound; this form is plain (one
// lane per value, scalar loads): bench/depthwise.ts measures it against the adapter's copy bandwidth.
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

#if ${ROW_TAPS}
// The row form, for stride 1 and no dilation along W with ROW_TAPS (3 or 5) taps: each lane makes 4
// neighbouring outputs of a row from the 3 + ROW_TAPS inputs they share, loaded once into registers,
// and each weight once for the 4 (a depthwise 3x3 loads 27 values for 4 outputs instead of 72). The
// sums run in the same (c, kh, kw) order; taps outside the input add w * 0.
const T = ${ROW_TAPS};
@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let ow0 = i32(wid.x * 8 + lid.x) * 4;
  let oh = i32(wid.y * 8 + lid.y);
  if (ow0 >= p.OW || oh >= p.OH) { return; }
  let ih0 = oh * p.SH - p.PT;
  let iw0 = ow0 - p.PL;
  let kh0 = select(0, (-ih0 + p.DH - 1) / p.DH, ih0 < 0);
  let kh1 = min(p.KH, (p.H - ih0 + p.DH - 1) / p.DH);
  for (var plane = i32(wid.z); plane < p.N * p.K; plane += i32(nwg.z)) {
    let k = plane % p.K;
    let n = plane / p.K;
    let c0 = (k / p.KG) * p.CG;
    var s = vec4<f32>(0.0);
    for (var c = 0; c < p.CG; c++) {
      let plane0 = (n * p.C + c0 + c) * p.H;
      let wBase = (k * p.CG + c) * p.KH;
      for (var kh = kh0; kh < kh1; kh++) {
        let xRow = (plane0 + ih0 + kh * p.DH) * p.W;
        var xr: array<f32, 3 + T>;
        for (var m = 0; m < 3 + T; m++) {
          let iw = iw0 + m;
          xr[m] = select(0.0, x[xRow + clamp(iw, 0, p.W - 1)], iw >= 0 && iw < p.W);
        }
        let wRow = (wBase + kh) * T;
        for (var kw = 0; kw < T; kw++) {
          let wv = w[wRow + kw];
          s += wv * vec4<f32>(xr[kw], xr[kw + 1], xr[kw + 2], xr[kw + 3]);
        }
      }
    }
#if ${BIAS}
    s += vec4<f32>(bias[k]);
#endif
    let at = (plane * p.OH + oh) * p.OW + ow0;
    for (var j = 0; j < 4 && ow0 + j < p.OW; j++) { y[at + j] = s[j]; }
  }
}
#else
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
#endif
#elif ${GRAD_INPUT}
@group(0) @binding(1) var<storage, read> gy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;

#if ${ROW_TAPS}
// The row form of a depthwise layer's input gradient (one channel per group, stride and dilation 1,
// ROW_TAPS taps along W): gx[ih, iw] = sum over kh, kw of w[kh, kw] gy[ih + PT - kh, iw + PL - kw], so 4
// neighbouring inputs of a row share the 3 + ROW_TAPS gradients they read, loaded once; the same
// (kh, kw) order as the general form below, with outside terms adding w * 0.
const T = ${ROW_TAPS};
@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let iw0 = i32(wid.x * 8 + lid.x) * 4;
  let ih = i32(wid.y * 8 + lid.y);
  if (iw0 >= p.W || ih >= p.H) { return; }
  // Rows kh with 0 <= ih + PT - kh < OH.
  let kh0 = max(0, ih + p.PT - p.OH + 1);
  let kh1 = min(p.KH, ih + p.PT + 1);
  let col0 = iw0 + p.PL - (T - 1);
  for (var plane = i32(wid.z); plane < p.N * p.C; plane += i32(nwg.z)) {
    let c = plane % p.C;
    var s = vec4<f32>(0.0);
    for (var kh = kh0; kh < kh1; kh++) {
      let gyRow = (plane * p.OH + ih + p.PT - kh) * p.OW;
      var r: array<f32, 3 + T>;
      for (var m = 0; m < 3 + T; m++) {
        let col = col0 + m;
        r[m] = select(0.0, gy[gyRow + clamp(col, 0, p.OW - 1)], col >= 0 && col < p.OW);
      }
      let wRow = (c * p.KH + kh) * T;
      for (var kw = 0; kw < T; kw++) {
        let m = T - 1 - kw;
        s += w[wRow + kw] * vec4<f32>(r[m], r[m + 1], r[m + 2], r[m + 3]);
      }
    }
    let at = (plane * p.H + ih) * p.W + iw0;
    for (var j = 0; j < 4 && iw0 + j < p.W; j++) { gx[at + j] = s[j]; }
  }
}
#else
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
#endif
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
