// Kernels of the path methods (Integrated Gradients and its layer and conductance forms). They do
// little but load, so where the element count allows each lane takes 4 neighbours (VEC4; on lavapipe
// a vec4 load costs about as much as a scalar one); n counts T values.
#if ${VEC4}
alias T = vec4<f32>;
#else
alias T = f32;
#endif
struct Params { n: i32, steps: i32, step0: i32, }
@group(0) @binding(0) var<uniform> p: Params;
const WG = 64;

#if ${SCALE_INPUTS}
// The whole batch of interpolated inputs in one pass: out[s, i] = b[i] + alpha[step0 + s] * (x[i] - b[i])
// for s < steps, where i runs over the n elements of the (N-example) input.
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> b: array<T>;
@group(0) @binding(3) var<storage, read> alpha: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<T>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let o = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (o >= p.n * p.steps) { return; }
  let s = o / p.n;
  let i = o - s * p.n;
  let base = b[i];
  out[o] = base + alpha[p.step0 + s] * (x[i] - base);
}
#else
// Riemann / Gauss-Legendre sum of a batch of step gradients into the running total:
// total[i] += sum over s < steps of w[step0 + s] * g[s, i].
@group(0) @binding(1) var<storage, read> g: array<T>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> total: array<T>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (i >= p.n) { return; }
  var s = total[i];
  for (var k = 0; k < p.steps; k++) {
    s += w[p.step0 + k] * g[k * p.n + i];
  }
  total[i] = s;
}
#endif
