// Picks one entry per row of a [rows, L] tensor: y[r] = x[r, t[r]] (attribution targets), and the
// backward pass, a one-hot scatter gx[r, j] = g[r] where j == t[r]. Targets are stored as floats
// (exact below 2^24).
struct Params { rows: i32, L: i32, }
@group(0) @binding(0) var<uniform> p: Params;
const WG = 64;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read> t: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
#if ${BACKWARD}
  if (i >= p.rows * p.L) { return; }
  let r = i / p.L;
  out[i] = select(0.0, v[r], i - r * p.L == i32(t[r]));
#else
  if (i >= p.rows) { return; }
  out[i] = v[i * p.L + i32(t[i])];
#endif
}
