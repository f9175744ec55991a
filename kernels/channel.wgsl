// Per-channel affine map of an NCHW tensor: y = x * scale[c] (+ shift[c]) (+ residual), optionally
// followed by ReLU or Clip (kernels/activation.wgsl). BatchNorm in inference mode is this map with scale = gamma / sqrt(var + eps) and
// shift = beta - mean * scale; a ResNet block's tail relu(bn(x) + identity) is it with the residual,
// in the same arithmetic as the three ops apart. Backward: the gradient is zeroed where the
// activation passes none (from the output), then scaled for x and passed as is to the residual.
// Lanes run along a plane (x) and workgroups loop over planes (y, with the stride of the grid's y:
// see planeGrid in src/autograd/ops/launch.ts), so the channel is uniform and steps without a
// division (slow on SIMD CPUs such as lavapipe). When a plane holds a multiple of 4
// values each lane takes 4 (VEC4): on lavapipe a vec4 load costs 1.7 scalar ones, and these
// kernels do little but load.
#if ${VEC4}
alias T = vec4<f32>;
#else
alias T = f32;
#endif
alias ActT = T;
#include "activation"
struct Params { NC: i32, C: i32, HW: i32, } // HW counts T values
@group(0) @binding(0) var<uniform> p: Params;
#if ${FORWARD}
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> shift: array<f32>;
#if ${RESIDUAL}
@group(0) @binding(4) var<storage, read> residual: array<T>;
@group(0) @binding(5) var<storage, read_write> y: array<T>;
#else
@group(0) @binding(4) var<storage, read_write> y: array<T>;
#endif
#else
@group(0) @binding(1) var<storage, read> g: array<T>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
#if ${ACT}
@group(0) @binding(3) var<storage, read> y_out: array<T>;
@group(0) @binding(4) var<storage, read_write> gx: array<T>;
#if ${RESIDUAL}
@group(0) @binding(5) var<storage, read_write> gr: array<T>;
#endif
#else
@group(0) @binding(3) var<storage, read_write> gx: array<T>;
#if ${RESIDUAL}
@group(0) @binding(4) var<storage, read_write> gr: array<T>;
#endif
#endif
#endif
const WG = 64;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let hw = i32(wid.x * WG + lid.x);
  if (hw >= p.HW) { return; }
  let step = i32(nwg.y);
  let dc = step % p.C;
  var c = i32(wid.y) % p.C;
  for (var plane = i32(wid.y); plane < p.NC; plane += step) {
    let i = plane * p.HW + hw;
#if ${FORWARD}
    var v = x[i] * scale[c] + shift[c];
#if ${RESIDUAL}
    v = v + residual[i];
#endif
    y[i] = activate(v);
#else
#if ${ACT}
    let gs = activationGrad(g[i], y_out[i]);
#else
    let gs = g[i];
#endif
    gx[i] = gs * scale[c];
#if ${RESIDUAL}
    gr[i] = gs;
#endif
#endif
    c += dc;
    if (c >= p.C) { c -= p.C; }
  }
}
