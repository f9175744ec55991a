// The BatchNorm and activation that made a layer's input x, backward, applied by the layer's
// input-gradient kernel as it stores: g -> activationGrad(g, x) * scale[channel], where the reverse
// pass (src/autograd/grad.ts) hands the kernel that map (the layer is x's one consumer). The
// arithmetic of kernels/channel.wgsl's backward, so the bits of its pass. The includer includes
// "activation" first (ActT: f32, or vec4<f32> for a kernel that stores vec4s) and sets InputT (f32, or
// vec4<f32> for vec4 loads); the host sets
// INPUT_AFFINE, INPUT_AT (x's binding; its scale follows) and IN_ACT, IN_CLIP_LO, IN_CLIP_HI as
// activation.wgsl's ACT, CLIP_LO, CLIP_HI (src/autograd/ops/nn.ts: inputAffineDefines).
#if ${INPUT_AFFINE}
@group(0) @binding(${INPUT_AT}) var<storage, read> xIn: array<InputT>;
@group(0) @binding(${INPUT_AT} + 1) var<storage, read> xScale: array<f32>;
#endif

fn inputAffine(g: ActT, x: ActT, scale: f32) -> ActT {
  return activationGradOf(${IN_ACT}, bitcast<f32>(${IN_CLIP_LO}u), bitcast<f32>(${IN_CLIP_HI}u), g, x) * scale;
}
