// The adapter's multiply-add ceiling (bench/ceiling.ts): every invocation runs ITERS rounds of 64
// independent multiply-adds (16 vec4 accumulators, no memory traffic but one store at the end), as
// a register-tiled convolution's inner loop does at best. 128 FLOPs a round.
struct Params { iters: i32, a: f32, b: f32, }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
const WG = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  var acc: array<vec4<f32>, 16>;
  for (var i = 0; i < 16; i++) { acc[i] = vec4<f32>(f32(gid.x + u32(i))); }
  let a = vec4<f32>(p.a);
  let b = vec4<f32>(p.b);
  for (var it = 0; it < p.iters; it++) {
    for (var i = 0; i < 16; i++) { acc[i] = fma(acc[i], a, b); }
  }
  var s = vec4<f32>(0.0);
  for (var i = 0; i < 16; i++) { s += acc[i]; }
  out[gid.x] = s;
}
