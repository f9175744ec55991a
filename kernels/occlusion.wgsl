// Perturbation methods (Occlusion, FeatureAblation). Inputs are [N, D0, D1, D2] (fewer dimensions
// are padded with 1s). A perturbation is either a window of Occlusion (by index) or a feature id of
// FeatureAblation (by mask); nothing but its index travels to the GPU.
struct Params {
  N: i32, D0: i32, D1: i32, D2: i32,
  W0: i32, W1: i32, W2: i32,      // window shape
  S0: i32, S1: i32, S2: i32,      // strides
  K0: i32, K1: i32, K2: i32,      // windows along each dimension
  first: i32, count: i32,         // perturbations first .. first + count - 1 in this batch
  maskBatched: i32,               // FeatureAblation: one mask per example (1) or shared (0)
}
@group(0) @binding(0) var<uniform> p: Params;
const WG = 64;
#include "nan"
const MASK = ${MASK};

// Window k covers index i along a dimension when k*S <= i < k*S + W (the last window may stick out and is cropped).
fn window_start(k: i32) -> vec3<i32> {
  // Captum numbers windows with the first dimension fastest.
  let k0 = k % p.K0;
  let k1 = (k / p.K0) % p.K1;
  let k2 = k / (p.K0 * p.K1);
  return vec3<i32>(k0 * p.S0, k1 * p.S1, k2 * p.S2);
}

fn inside(k: i32, i0: i32, i1: i32, i2: i32) -> bool {
  let s = window_start(k);
  return i0 >= s.x && i0 < s.x + p.W0 && i1 >= s.y && i1 < s.y + p.W1 && i2 >= s.z && i2 < s.z + p.W2;
}

#if ${PERTURB}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
#if ${MASK}
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
#else
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#endif

#if ${BOX}
// Occlusion's receptive-field form (src/nn/boxed.ts) needs only the box of each perturbed input
// (N = 1): out[q, i0, u, v] = the perturbed input at (i0, box + (u, v)), the box being window
// first + q's spatial extent (W1 x W2) over every i0, moved inside the input where the last window
// is cropped at the border (as src/attr/occlusion.ts places the boxes).
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let o = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  let per = p.D0 * p.W1 * p.W2;
  if (o >= per * p.count) { return; }
  let q = o / per;
  let r = o - q * per;
  let i0 = r / (p.W1 * p.W2);
  let k = p.first + q;
  let s = window_start(k);
  let i1 = min(s.y, p.D1 - p.W1) + (r / p.W2) % p.W1;
  let i2 = min(s.z, p.D2 - p.W2) + r % p.W2;
  let i = (i0 * p.D1 + i1) * p.D2 + i2;
  out[o] = select(x[i], b[i], inside(k, i0, i1, i2));
}
#else
// out[q, n, i] = the input with perturbation first + q applied: baseline inside it, input elsewhere.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let o = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  let per = p.D0 * p.D1 * p.D2;
  let n_all = p.N * per;
  if (o >= n_all * p.count) { return; }
  let q = o / n_all;
  let j = o - q * n_all;           // index within the N examples
  let i = j % per;
  var hit: bool;
#if ${MASK}
  hit = i32(mask[select(i, j, p.maskBatched == 1)]) == p.first + q;
#else
  let i0 = i / (p.D1 * p.D2);
  let i1 = (i / p.D2) % p.D1;
  let i2 = i % p.D2;
  hit = inside(p.first + q, i0, i1, i2);
#endif
  out[o] = select(x[j], b[j], hit);
}
#endif
#else
@group(0) @binding(1) var<storage, read> f0: array<f32>;     // [N] scores of the unperturbed input
@group(0) @binding(2) var<storage, read> evals: array<f32>;  // [perturbations, N] scores of each perturbed input
#if ${MASK}
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> attr: array<f32>;
#else
@group(0) @binding(3) var<storage, read_write> attr: array<f32>;
#endif

// Occlusion: the mean of F(x) - F(x with window k) over the windows k covering the element (Captum's
// total / weights). FeatureAblation: F(x) - F(x with the element's feature ablated).
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let j = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  let per = p.D0 * p.D1 * p.D2;
  if (j >= p.N * per) { return; }
  let n = j / per;
  let i = j - n * per;
#if ${MASK}
  let f = i32(mask[select(i, j, p.maskBatched == 1)]) - p.first;
  attr[j] = f0[n] - evals[f * p.N + n];
#else
  let i0 = i / (p.D1 * p.D2);
  let i1 = (i / p.D2) % p.D1;
  let i2 = i % p.D2;
  // Windows covering index v along a dimension: max(0, ceil((v - W + 1) / S)) .. min(K - 1, floor(v / S)).
  let lo = vec3<i32>(max(0, (i0 - p.W0 + p.S0) / p.S0), max(0, (i1 - p.W1 + p.S1) / p.S1), max(0, (i2 - p.W2 + p.S2) / p.S2));
  let hi = vec3<i32>(min(p.K0 - 1, i0 / p.S0), min(p.K1 - 1, i1 / p.S1), min(p.K2 - 1, i2 / p.S2));
  var s = 0.0;
  var c = 0;
  for (var k2 = lo.z; k2 <= hi.z; k2++) {
    for (var k1 = lo.y; k1 <= hi.y; k1++) {
      for (var k0 = lo.x; k0 <= hi.x; k0++) {
        let k = (k2 * p.K1 + k1) * p.K0 + k0;
        s += f0[n] - evals[k * p.N + n];
        c++;
      }
    }
  }
  // No window covers index v where the strides skip it: 0 / 0, NaN, as Captum.
  attr[j] = select(s / f32(c), nanFrom(u32(c)), c == 0);
#endif
}
#endif
