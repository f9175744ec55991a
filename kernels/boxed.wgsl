// Windows of a batch of feature maps that differ from one base map only inside a box per item (the
// receptive-field form of Occlusion, src/nn/boxed.ts). out[b, c, y, x] is the map of item b at
// (origin_b + (y, x)): the fill value outside the map (0 for a convolution's zero padding, -inf for
// max pooling's), item b's patch ('inside') inside its box, the base map elsewhere.
struct Params {
  B: i32, C: i32, H: i32, W: i32, // items, channels, map size
  PH: i32, PW: i32,               // box (patch) size
  CH: i32, CW: i32,               // window (output) size
  QW: i32,                        // quads (4 columns) per window row
  fill: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> base: array<f32>;   // [C, H, W]
@group(0) @binding(2) var<storage, read> inside: array<f32>;  // [B, C, PH, PW]
@group(0) @binding(3) var<storage, read> place: array<vec4<f32>>; // [B]: box y, box x, window y, window x
#if ${VEC_OUT}
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>; // [B, C, CH, CW / 4]
#else
@group(0) @binding(4) var<storage, read_write> out: array<f32>; // [B, C, CH, CW]
#endif
const WG = 8;

// A lane makes 4 neighbouring columns of one window row (a quad: one vec4 store where the width is a
// multiple of 4), the same quad of every (item, channel) plane it visits; workgroups loop over the
// planes with the stride of z (planeWorkgroups in src/autograd/ops/launch.ts), stepping item and channel
// without a division.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let quad = i32(wid.x) * WG + i32(lid.x);
  let y = quad / p.QW;
  let x0 = 4 * (quad - y * p.QW);
  if (y >= p.CH) { return; }
  let step = i32(nwg.z);
  let db = step / p.C;
  let dc = step % p.C;
  var b = i32(wid.z) / p.C;
  var c = i32(wid.z) % p.C;
  // The item's placement, loaded again only when the item changes (every C / step planes): b is the
  // same for the whole workgroup, and lavapipe loads even such an address once per lane.
  var at = vec4<i32>(place[b]);
  var atItem = b;
  for (var plane = i32(wid.z); plane < p.B * p.C; plane += step) {
    if (b != atItem) {
      at = vec4<i32>(place[b]);
      atItem = b;
    }
    let gy = at.z + y;
    let py = gy - at.x;
    let rowIn = gy >= 0 && gy < p.H;
    let rowBox = py >= 0 && py < p.PH;
    var v = vec4<f32>(p.fill);
    for (var j = 0; j < 4; j++) {
      let gx = at.w + x0 + j;
      let px = gx - at.y;
      if (rowIn && gx >= 0 && gx < p.W) {
        if (rowBox && px >= 0 && px < p.PW) {
          v[j] = inside[((plane * p.PH) + py) * p.PW + px];
        } else {
          v[j] = base[(c * p.H + gy) * p.W + gx];
        }
      }
    }
#if ${VEC_OUT}
    out[((plane * p.CH) + y) * p.QW + x0 / 4] = v;
#else
    for (var j = 0; j < 4; j++) {
      if (x0 + j < p.CW) {
        out[((plane * p.CH) + y) * p.CW + x0 + j] = v[j];
      }
    }
#endif
    b += db;
    c += dc;
    if (c >= p.C) { c -= p.C; b += 1; }
  }
}
