// Per-channel affine map of an NCHW tensor: y = x * scale[c] (+ shift[c]), optionally followed by
// ReLU. BatchNorm in inference mode is this map with scale = gamma / sqrt(var + eps) and
// shift = beta - mean * scale; its input gradient is the same map without the shift, and with a
// fused ReLU the gradient is first zeroed where the output y was not positive.
struct Params { n: i32, C: i32, HW: i32, }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
#if ${RELU_BACKWARD}
@group(0) @binding(3) var<storage, read> y_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#elif ${SHIFT}
@group(0) @binding(3) var<storage, read> shift: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#else
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
#endif
const WG = 64;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (i >= p.n) { return; }
  let c = (i / p.HW) % p.C;
#if ${RELU_BACKWARD}
  var v = select(0.0, x[i], y_out[i] > 0.0) * scale[c];
#elif ${SHIFT}
  var v = x[i] * scale[c] + shift[c];
#else
  var v = x[i] * scale[c];
#endif
#if ${RELU}
  v = max(v, 0.0);
#endif
  y[i] = v;
}
