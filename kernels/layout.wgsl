// A strided gather over up to 6 dimensions: out[i0, ..., i5] = alpha * x[offset + i0*s0 + ... + i5*s5].
// With permuted strides it is a permute; with zero strides, a broadcast; with an offset and stepped
// strides, a slice. Output indices at or past the extents e0..e3 read as zero: that pads dimensions
// (to multiples of 4, for kernels that load vec4s). With SCATTER the roles swap: x holds the slice and
// y[offset + i0*s0 + ...] = alpha * x[i], into a y zeroed beforehand (a slice's gradient; the
// positions are distinct, so no two lanes write one value).
struct Params {
  d0: i32, d1: i32, d2: i32, d3: i32, d4: i32, d5: i32, // the (gathered) slice's shape, padded
  s0: i32, s1: i32, s2: i32, s3: i32, s4: i32, s5: i32, // strides of the full tensor along the slice's dimensions
  e0: i32, e1: i32, e2: i32, e3: i32, e4: i32, e5: i32, // extents of the full tensor within the slice
  offset: i32,
  alpha: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const WG = 64;
const RANK = ${RANK};

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let o = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (o >= p.d0 * p.d1 * p.d2 * p.d3 * p.d4 * p.d5) { return; }
  // Only the view's RANK inner dimensions are split off (the leading ones are 1): an integer division
  // costs tens of cycles a lane on SIMD CPUs (lavapipe), where the copy itself costs a few.
  var t = o;
  var i5 = t; var i4 = 0; var i3 = 0; var i2 = 0; var i1 = 0; var i0 = 0;
  if (RANK > 1) { i5 = t % p.d5; t = t / p.d5; i4 = t; }
  if (RANK > 2) { i4 = t % p.d4; t = t / p.d4; i3 = t; }
  if (RANK > 3) { i3 = t % p.d3; t = t / p.d3; i2 = t; }
  if (RANK > 4) { i2 = t % p.d2; t = t / p.d2; i1 = t; }
  if (RANK > 5) { i1 = t % p.d1; t = t / p.d1; i0 = t; }
  let at = p.offset + i0 * p.s0 + i1 * p.s1 + i2 * p.s2 + i3 * p.s3 + i4 * p.s4 + i5 * p.s5;
#if ${SCATTER}
  y[at] = p.alpha * x[o];
#else
  if (i0 >= p.e0 || i1 >= p.e1 || i2 >= p.e2 || i3 >= p.e3 || i4 >= p.e4 || i5 >= p.e5) {
    y[o] = 0.0;
  } else {
    y[o] = p.alpha * x[at];
  }
#endif
}
