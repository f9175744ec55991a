// The adapter's multiply-add ceiling (bench/ceiling.ts): every invocation runs ITERS rounds of
// multiply-adds in registers (8 vec4 accumulators, each updated 4 times a round: 128 fmas, 256 FLOPs),
// no memory traffic but one store at the end. Four updates a round because lavapipe writes a loop's
// accumulators back under the lane mask once per round (a blend per accumulator): one update a round
// measured half of this (docs/performance.md).
struct Params { iters: i32, a: f32, b: f32, }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
const WG = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  var acc: array<vec4<f32>, 8>;
  for (var i = 0; i < 8; i++) { acc[i] = vec4<f32>(f32(gid.x + u32(i))); }
  let a = vec4<f32>(p.a);
  let b = vec4<f32>(p.b);
  for (var it = 0; it < p.iters; it++) {
    for (var u = 0; u < 4; u++) {
      for (var i = 0; i < 8; i++) { acc[i] = fma(acc[i], a, b); }
    }
  }
  var s = vec4<f32>(0.0);
  for (var i = 0; i < 8; i++) { s += acc[i]; }
  out[gid.x] = s;
}
