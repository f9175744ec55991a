// Grad-CAM's map from a layer's activations A [N, K, h, w] and the per-channel weights alpha [N, K]
// (the layer gradient averaged over positions): cam[n, 0, y, x] = sum over k of alpha[n, k] * A[n, k, y, x],
// optionally through a ReLU. One thread per output position, looping over channels.
struct Params { N: i32, K: i32, HW: i32, }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> acts: array<f32>;
@group(0) @binding(2) var<storage, read> alpha: array<f32>;
@group(0) @binding(3) var<storage, read_write> cam: array<f32>;
const WG = 64;
const RELU = ${RELU} == 1;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let o = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (o >= p.N * p.HW) { return; }
  let n = o / p.HW;
  let i = o - n * p.HW;
  var s = 0.0;
  for (var k = 0; k < p.K; k++) {
    s += alpha[n * p.K + k] * acts[(n * p.K + k) * p.HW + i];
  }
  cam[o] = select(s, select(0.0, s, !(s <= 0.0)), RELU);
}
