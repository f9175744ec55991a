// The activation a fused affine epilogue applies (ACT: 0 none, 1 ReLU, 2 Clip to [CLIP_LO, CLIP_HI],
// the bounds given as f32 bits) and its backward rule from the output, each as PyTorch's: ReLU's
// threshold_backward, Clip's hardtanh_backward (nothing passes at or beyond a bound). NaN passes
// both ways. Included by the kernels that fuse a BatchNorm; the includer sets ActT (f32 or vec4<f32>).
const CLIP_LO = bitcast<f32>(${CLIP_LO}u);
const CLIP_HI = bitcast<f32>(${CLIP_HI}u);

fn activate(v: ActT) -> ActT {
  if (${ACT} == 1) { return select(ActT(0.0), v, !(v <= ActT(0.0))); }
  if (${ACT} == 2) { return select(select(v, ActT(CLIP_LO), v < ActT(CLIP_LO)), ActT(CLIP_HI), v > ActT(CLIP_HI)); }
  return v;
}

fn activationGrad(g: ActT, y: ActT) -> ActT {
  return activationGradOf(${ACT}, CLIP_LO, CLIP_HI, g, y);
}

/** activationGrad of activation `act` (as ACT) and bounds [lo, hi], for a kernel that applies a second one. */
fn activationGradOf(act: i32, lo: f32, hi: f32, g: ActT, y: ActT) -> ActT {
  if (act == 1) { return select(g, ActT(0.0), y <= ActT(0.0)); }
  if (act == 2) { return select(g, ActT(0.0), (y <= ActT(lo)) | (y >= ActT(hi))); }
  return g;
}
