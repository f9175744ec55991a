// A strided gather over up to 4 dimensions: out[i0, i1, i2, i3] = alpha * x[i0*s0 + i1*s1 + i2*s2 + i3*s3].
// With permuted strides it is a permute; with zero strides, a broadcast. Output indices at or past
// the extents e0..e3 read as zero: that pads dimensions (to multiples of 4, for kernels that load vec4s).
struct Params {
  d0: i32, d1: i32, d2: i32, d3: i32,     // output shape (padded)
  s0: i32, s1: i32, s2: i32, s3: i32,     // input strides of the output's dimensions
  e0: i32, e1: i32, e2: i32, e3: i32,     // extents of the input within the output
  alpha: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const WG = 64;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let o = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (o >= p.d0 * p.d1 * p.d2 * p.d3) { return; }
  let i3 = o % p.d3;
  var t = o / p.d3;
  let i2 = t % p.d2;
  t = t / p.d2;
  let i1 = t % p.d1;
  let i0 = t / p.d1;
  if (i0 >= p.e0 || i1 >= p.e1 || i2 >= p.e2 || i3 >= p.e3) {
    y[o] = 0.0;
  } else {
    y[o] = p.alpha * x[i0 * p.s0 + i1 * p.s1 + i2 * p.s2 + i3 * p.s3];
  }
}
