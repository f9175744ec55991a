// The maximum over the middle axis of a tensor viewed as [outer, axis, inner], with its index, as
// torch.max(x, dim): the first maximum wins, and a NaN wins (the first NaN). The backward pass sends
// each output's gradient to the index that won; every other input gets 0.
struct Params { outer: i32, axis: i32, inner: i32, }
@group(0) @binding(0) var<uniform> p: Params;
const WG = 64;

#if ${FORWARD}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> arg: array<i32>;

#include "nan"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let t = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (t >= p.outer * p.inner) { return; }
  let o = t / p.inner;
  let i = t - o * p.inner;
  var best = x[o * p.axis * p.inner + i];
  var at = 0;
  for (var a = 1; a < p.axis && !isNan(best); a++) {
    let v = x[(o * p.axis + a) * p.inner + i];
    if (v > best || isNan(v)) { best = v; at = a; }
  }
  y[t] = best;
  arg[t] = at;
}
#else
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> arg: array<i32>;
@group(0) @binding(3) var<storage, read_write> gx: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let j = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (j >= p.outer * p.axis * p.inner) { return; }
  let i = j % p.inner;
  let a = (j / p.inner) % p.axis;
  let o = j / (p.inner * p.axis);
  let t = o * p.inner + i;
  gx[j] = select(0.0, g[t], arg[t] == a);
}
#endif
