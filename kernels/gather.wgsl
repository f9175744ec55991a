// Rows of a table by index (ONNX Gather on axis 0 of a constant: an embedding lookup):
// out[r, d] = table[ids[r], d]. Indices travel as floats (exact below 2^24); one outside the table
// gives NaN rows, visible downstream, rather than another row.
struct Params { rows: i32, width: i32, count: i32, }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
const WG = 64;
#include "nan"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let j = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (j >= p.rows * p.width) { return; }
  let r = j / p.width;
  let d = j - r * p.width;
  var k = i32(ids[r]);
  if (k < 0) { k += p.count; }
  let inside = k >= 0 && k < p.count;
  out[j] = select(nanFrom(u32(r * 0)), table[select(0, k, inside) * p.width + d], inside);
}
