// Noisy copies of a batch: out[s, j] = x[j] + stdev * z, with z a standard normal drawn from a
// counter-based generator (PCG hash of seed and element index, Box-Muller), so a seed gives the same
// noise on every adapter and in any batching.
struct Params { n: i32, samples: i32, sample0: i32, seed: u32, stdev: f32, }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
const WG = 64;

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let o = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (o >= p.n * p.samples) { return; }
  let s = o / p.n;
  let j = o - s * p.n;
  let counter = u32((p.sample0 + s) * p.n + j);
  let h1 = pcg(counter ^ pcg(p.seed));
  let h2 = pcg(h1 ^ 0x9e3779b9u);
  let u1 = (f32(h1 >> 8u) + 1.0) / 16777217.0; // in (0, 1]
  let u2 = f32(h2 >> 8u) / 16777216.0;
  let z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
  out[o] = x[j] + p.stdev * z;
}
