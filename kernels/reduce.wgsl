// Sums over the middle axis of a tensor viewed as [outer, axis, inner], times alpha:
// y[o, i] = alpha * sum over a of x[o, a, i]. One thread per output; neighbouring threads take
// neighbouring i, so their reads are contiguous when inner > 1.
struct Params { outer: i32, axis: i32, inner: i32, alpha: f32, }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const WG = 64;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let t = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (t >= p.outer * p.inner) { return; }
  let o = t / p.inner;
  let i = t - o * p.inner;
  var base = o * p.axis * p.inner + i;
  // Four partial sums: shorter dependency chains, and less rounding error on long axes.
  var s = vec4<f32>(0.0);
  var a = 0;
  for (; a + 4 <= p.axis; a += 4) {
    s += vec4<f32>(x[base], x[base + p.inner], x[base + 2 * p.inner], x[base + 3 * p.inner]);
    base += 4 * p.inner;
  }
  for (; a < p.axis; a++) {
    s.x += x[base];
    base += p.inner;
  }
  y[t] = p.alpha * ((s.x + s.y) + (s.z + s.w));
}
