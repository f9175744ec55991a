// Softmax over the last dimension (rows of length L), one thread per row, and its backward pass
// gx = y * (g - sum(g * y)).
struct Params { rows: i32, L: i32, }
@group(0) @binding(0) var<uniform> p: Params;
const WG = 64;
#if ${BACKWARD}
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (row >= p.rows) { return; }
  let base = row * p.L;
#if ${BACKWARD}
  var s = 0.0;
  for (var j = 0; j < p.L; j++) { s += g[base + j] * y[base + j]; }
  for (var j = 0; j < p.L; j++) { gx[base + j] = y[base + j] * (g[base + j] - s); }
#else
  var m = -3.4028234e38;
  for (var j = 0; j < p.L; j++) { m = max(m, x[base + j]); }
  var s = 0.0;
  for (var j = 0; j < p.L; j++) { s += exp(x[base + j] - m); }
  for (var j = 0; j < p.L; j++) { y[base + j] = exp(x[base + j] - m) / s; }
#endif
}
