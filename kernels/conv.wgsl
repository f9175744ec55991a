#if ${SUBGROUP}
enable subgroups;
#endif
#if ${F16}
enable f16;
#endif
// 2-D convolution as implicit GEMM: forward, gradient to the input, gradient to the weight.
// No im2col is materialised. The direct kernels use no workgroup memory (so no barriers): on CPU
// adapters workgroup memory costs what any load costs and barriers serialise. GPUs take a tiled
// forward that stages slabs in workgroup memory (TILED, below), with the same sums in the same order.
//
// The three direct kernels share one shape: each invocation accumulates a TM x TN register tile whose TM
// rows are channels shared by the whole workgroup, so their weights (or output gradients) are
// *uniform* loads, one vec4 for four channels, which real GPUs serve from cache as a broadcast (and
// lavapipe, which loads them once per lane inside loops, shares by subgroup: register-tile.wgsl's
// shareRows), and whose TN columns are positions
// WG apart, so neighbouring lanes read neighbouring pixels (coalesced on GPUs). Positions are
// flattened over (batch, y, x) so late 7x7 layers still fill the lanes when the batch is large.
//
// Layouts: x, y, gy, gx are NCHW. The forward reads the weight as [KH, KW, C, K], the input
// gradient as [KH, KW, K, C], the weight gradient reads gy as [N, OH*OW, K]: each a permutation of
// PyTorch's layout that puts the TM tile channels side by side for vec4 loads, its last dimension
// zero-padded to a multiple of 4 (KP, CP) so that 3-channel images work too.
struct Params {
  N: i32, C: i32, H: i32, W: i32,
  K: i32, OH: i32, OW: i32,
  KH: i32, KW: i32, SH: i32, SW: i32, PH: i32, PW: i32, DH: i32, DW: i32,
  chunk: i32, // weight gradient: positions per split
}
@group(0) @binding(0) var<uniform> p: Params;

const TM = ${TM};
const TN = ${TN};
const WG = ${WG};

#include "register-tile"
// The 1x1 form stores 4 neighbouring positions as one vec4 (and reads its residual and input so).
#if ${POINTWISE}
alias OutT = vec4<f32>;
#else
alias OutT = f32;
#endif
alias ActT = OutT;
#include "activation"
alias InputT = OutT;
#include "input-affine"

#if ${GRAD_WEIGHT}
#else
// The direct forwards and input gradient sum STEP channels a loop round: two with tiles of 4
// columns and 16 or more rows where the channel count is even (PAIRS, conv.ts), else one. lavapipe
// writes a loop's accumulators back under the loop's lane mask once a round (a blend and, for 128 of
// them, a store and a load), so two rank-one updates a round halve that traffic; three or four fall
// off its JIT's cliff. The same fmas in the same order either way: the same bits. With two a round
// the store loops read a copy of the accumulators: a store loop too big to unroll (an epilogue's)
// that indexed acc would keep acc in memory for the whole sum; with one a round the copy only cost
// (docs/performance.md).
const STEP = 1 + ${PAIRS};

// The TM rows of the weight at one channel, 4 channels a vec4, from vec4 index wi (w: the forward's
// or the input gradient's weight).
fn weightRows(wi: i32, lane: u32) -> array<vec4<f32>, TM / 4> {
#if ${SUBGROUP}
  return shareRows(w[wi + i32(lane % (TM / 4))]);
#else
  var rows: array<vec4<f32>, TM / 4>;
  for (var i4 = 0; i4 < TM / 4; i4++) {
    rows[i4] = w[wi + i4];
  }
  return rows;
#endif
}

#if ${POINTWISE}
#else
// One tap's share of a direct kernel's sum (the general forward, the input gradient): `count`
// channels of the operand (operand(): x or gy) at off[j] + channel * stride, each times the weight
// rows from vec4 index wi0 on, rowStride vec4s a channel, STEP channels a round.
fn sumTap(acc: ptr<function, array<array<T, TN>, TM>>, off: array<i32, TN>, ok: array<bool, TN>, count: i32,
          stride: i32, wi0: i32, rowStride: i32, lane: u32) {
  var wi = wi0;
  for (var c = 0; c < count; c += STEP) {
    var v: array<array<T, TN>, STEP>;
    var rows: array<array<vec4<f32>, TM / 4>, STEP>;
    for (var u = 0; u < STEP; u++) {
      for (var j = 0; j < TN; j++) {
        v[u][j] = T(select(0.0, operand(off[j] + (c + u) * stride), ok[j]));
      }
      rows[u] = weightRows(wi + u * rowStride, lane);
    }
    for (var u = 0; u < STEP; u++) {
      for (var i4 = 0; i4 < TM / 4; i4++) {
        rankOneUpdate(acc, i4, vec4<T>(rows[u][i4]), &v[u]);
      }
    }
    wi += STEP * rowStride;
  }
}
#endif
#endif

#if ${TILED}
// The tiled kernels (GPUs): a GEMM whose workgroup stages a BK-deep slab of both operands in
// workgroup memory, and whose 16 x 16 threads each accumulate 4 channels x 4 positions of a
// BM x BN block, so every global value is read once per block instead of once per thread.
const BM = 64; // output channels per workgroup
const BN = 64; // positions per workgroup
const BK = 16; // terms of the sum per step
var<workgroup> As: array<vec4<T>, BK * BM / 4>; // [BK][BM / 4]: weights, 4 channels per vec4
var<workgroup> Bs: array<T, BK * BN>;             // [BK][BN]: the other operand

// Adds the staged slab to this thread's 4 x 4 block: acc[j] holds channels 4 ty .. + 3 of position
// 4 tx + j, each summed over the slab's rows in order with fma, as the direct kernels sum.
fn accumulateSlab(acc: ptr<function, array<vec4<T>, 4>>, tx: i32, ty: i32) {
  workgroupBarrier();
  for (var kk = 0; kk < BK; kk++) {
    let a = As[kk * (BM / 4) + ty];
    let bi = kk * BN + 4 * tx;
    (*acc)[0] = fma(a, vec4(Bs[bi]), (*acc)[0]);
    (*acc)[1] = fma(a, vec4(Bs[bi + 1]), (*acc)[1]);
    (*acc)[2] = fma(a, vec4(Bs[bi + 2]), (*acc)[2]);
    (*acc)[3] = fma(a, vec4(Bs[bi + 3]), (*acc)[3]);
  }
  workgroupBarrier();
}
#endif

#if ${FORWARD}
#if ${POINTWISE}
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
fn operand(i: i32) -> f32 { return x[i]; } // what sumTap sums over
#endif
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
// The epilogue's inputs follow at the binding numbers the host counts out (src/autograd/ops/conv.ts).
#if ${BIAS}
@group(0) @binding(${BIAS_AT}) var<storage, read> bias: array<f32>;
#endif
#if ${AFFINE}
@group(0) @binding(${AFFINE_AT}) var<storage, read> scale: array<f32>;
@group(0) @binding(${SHIFT_AT}) var<storage, read> shift: array<f32>;
#endif
#if ${RESIDUAL}
@group(0) @binding(${RESIDUAL_AT}) var<storage, read> residual: array<OutT>;
#endif
@group(0) @binding(${OUTPUT_AT}) var<storage, read_write> y: array<OutT>;

// The fused epilogue: the bias, then a BatchNorm's per-channel affine map (AFFINE), a residual, an activation,
// in the arithmetic of kernels/channel.wgsl, so a block's relu(bn(conv(x)) + identity) gives the bits
// of the kernels apart, without a pass over the convolution's output. rowParameters(k) loads output
// channel k's bias, scale and shift once for a row of stores (lavapipe loads a uniform address per lane).
// A 1x1 input gradient runs this kernel and may apply its input's producer's backward (INPUT_AFFINE,
// whose scale takes e.y's place).
fn rowParameters(k: i32) -> vec3<f32> {
  var e = vec3<f32>(0.0, 1.0, 0.0);
#if ${BIAS}
  e.x = bias[k];
#endif
#if ${AFFINE}
  e.y = scale[k];
  e.z = shift[k];
#endif
#if ${INPUT_AFFINE}
  e.y = xScale[k];
#endif
  return e;
}

// v stored at OutT index i (a vec4 of 4 neighbouring positions in the 1x1 form), each value by the same arithmetic.
fn storeWith(e: vec3<f32>, i: i32, v: OutT) {
  var o = v;
#if ${BIAS}
  o = o + e.x;
#endif
#if ${AFFINE}
  o = o * e.y + e.z;
#endif
#if ${RESIDUAL}
  o = o + residual[i];
#endif
#if ${INPUT_AFFINE}
  o = inputAffine(o, xIn[i], e.y);
#endif
  y[i] = activate(o);
}

#if ${POINTWISE}
#else
fn storeOutput(b: i32, k: i32, r: i32, v: f32) {
  storeWith(rowParameters(k), (b * p.K + k) * p.OH * p.OW + r, v);
}
#endif

#if ${TILED}

// The tiled forward: the weight [K, Q] times the implicit im2col matrix [Q, positions], Q = (kh, kw, c).
// Each output sums its terms in the direct kernel's order (kh, kw, c), with the same fma, so both give
// the same bits (and boxed.ts's windows stay exact).
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let HW = p.H * p.W;
  let OHW = p.OH * p.OW;
  let P = p.N * OHW;
  let Q = p.C * p.KH * p.KW;
  let KP4 = (p.K + 3) / 4;
  let k0 = i32(wid.y) * BM;
  let pos0 = i32(wid.x) * BN;
  let t = i32(li);
  // The input column this thread stages: one position for the whole loop, rows brow + 4i.
  let bcol = t % BN;
  let brow = t / BN;
  let pos = pos0 + bcol;
  let b = pos / OHW;
  let r = pos - b * OHW;
  let oh = r / p.OW;
  let ih0 = select(-1 << 20, oh * p.SH - p.PH, pos < P);
  let iw0 = (r - oh * p.OW) * p.SW - p.PW;
  let xb = b * p.C * HW;
  // The weight vec4 this thread stages: row arow, channels k0 + 4 acol ..
  let arow = t / (BM / 4);
  let acol = t % (BM / 4);
  let kq = k0 / 4 + acol;
  let tx = i32(lid.x);
  let ty = i32(lid.y);
  var acc: array<vec4<T>, 4>; // acc[j]: channels k0 + 4 ty .. + 3 at position pos0 + 4 tx + j
  for (var q0 = 0; q0 < Q; q0 += BK) {
    let qa = q0 + arow;
    let aok = qa < Q && kq < KP4;
    As[arow * (BM / 4) + acol] = vec4<T>(select(vec4(0.0), w[select(0, qa * KP4 + kq, aok)], aok));
    for (var i = 0; i < BK / 4; i++) {
      let q = q0 + brow + 4 * i;
      let tap = q / p.C;
      let c = q - tap * p.C;
      let kh = tap / p.KW;
      let ih = ih0 + kh * p.DH;
      let iw = iw0 + (tap - kh * p.KW) * p.DW;
      let ok = q < Q && ih >= 0 && ih < p.H && iw >= 0 && iw < p.W;
      Bs[(brow + 4 * i) * BN + bcol] = T(select(0.0, x[select(0, xb + c * HW + ih * p.W + iw, ok)], ok));
    }
    accumulateSlab(&acc, tx, ty);
  }
  for (var j = 0; j < 4; j++) {
    let pj = pos0 + 4 * tx + j;
    if (pj < P) {
      let bj = pj / OHW;
      let rj = pj - bj * OHW;
      for (var i = 0; i < 4; i++) {
        let k = k0 + 4 * ty + i;
        if (k < p.K) {
          storeOutput(bj, k, rj, f32(acc[j][i]));
        }
      }
    }
  }
}
#elif ${POINTWISE}
// The direct forward of a 1x1 convolution with stride 1 and no padding on maps of a multiple of 4
// positions (POINTWISE, TN = 4): a lane's 4 columns are neighbouring positions of one plane, so one
// vec4 load brings them where the general kernel loads 4 scalars (on lavapipe a vec4 load costs 1.7
// scalar ones). The same sums in the same order (over c, by fma): the same bits.

// acc[i] (channel k0 + i at the lane's 4 positions) gains row i times the 4 inputs v.
fn pointUpdate(acc: ptr<function, array<vec4<T>, TM>>, rows: array<vec4<f32>, TM / 4>, v: vec4<T>) {
  for (var i4 = 0; i4 < TM / 4; i4++) {
    let a = vec4<T>(rows[i4]);
    (*acc)[4 * i4] = fma(vec4(a.x), v, (*acc)[4 * i4]);
    (*acc)[4 * i4 + 1] = fma(vec4(a.y), v, (*acc)[4 * i4 + 1]);
    (*acc)[4 * i4 + 2] = fma(vec4(a.z), v, (*acc)[4 * i4 + 2]);
    (*acc)[4 * i4 + 3] = fma(vec4(a.w), v, (*acc)[4 * i4 + 3]);
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
#if ${SUBGROUP}
        @builtin(subgroup_invocation_id) lane: u32,
#endif
) {
#if ${SUBGROUP}
#else
  let lane = 0u;
#endif
  let HW4 = p.H * p.W / 4;
  let k0 = i32(wid.y) * TM;
  let KP4 = (p.K + 3) / 4;
  let quad = i32(wid.x) * WG + i32(lid.x); // positions 4 quad .. 4 quad + 3
  let b = quad / HW4;
  let r4 = quad - b * HW4;
  let ok = quad < p.N * HW4;
  let xb = select(0, b * p.C * HW4 + r4, ok);
  var acc: array<vec4<T>, TM>;
  var wi = k0 / 4;
  for (var c = 0; c < p.C; c += STEP) {
    var v: array<vec4<T>, STEP>;
    var rows: array<array<vec4<f32>, TM / 4>, STEP>;
    for (var u = 0; u < STEP; u++) {
      v[u] = vec4<T>(select(vec4(0.0), x[xb + (c + u) * HW4], ok));
      rows[u] = weightRows(wi + u * KP4, lane);
    }
    for (var u = 0; u < STEP; u++) {
      pointUpdate(&acc, rows[u], v[u]);
    }
    wi += STEP * KP4;
  }
#if ${PAIRS}
  var copy = acc; // see STEP
  let sums = &copy;
#else
  let sums = &acc;
#endif
  if (ok) {
    for (var i = 0; i < TM; i++) {
      let k = k0 + i;
      if (k < p.K) {
        let e = rowParameters(k);
        storeWith(e, (b * p.K + k) * HW4 + r4, vec4<f32>((*sums)[i]));
      }
    }
  }
}
#else
// y[b, k, oh, ow] = sum over (c, kh, kw) of w[k, c, kh, kw] * x[b, c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW]
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
#if ${SUBGROUP}
        @builtin(subgroup_invocation_id) lane: u32,
#endif
) {
#if ${SUBGROUP}
#else
  let lane = 0u;
#endif
  let HW = p.H * p.W;
  let OHW = p.OH * p.OW;
  let P = p.N * OHW;
  let k0 = i32(wid.y) * TM;
  let KP = (p.K + 3) / 4 * 4;
  let pos0 = i32(wid.x) * (WG * TN) + i32(lid.x);

  var ih0: array<i32, TN>;
  var iw0: array<i32, TN>;
  var xb: array<i32, TN>;
  for (var j = 0; j < TN; j++) {
    let pos = pos0 + j * WG;
    let b = pos / OHW;
    let r = pos - b * OHW;
    let oh = r / p.OW;
    let ow = r - oh * p.OW;
    ih0[j] = select(-1 << 20, oh * p.SH - p.PH, pos < P); // out-of-range positions read nothing
    iw0[j] = ow * p.SW - p.PW;
    xb[j] = b * p.C * HW;
  }
  var acc: array<array<T, TN>, TM>;
  for (var kh = 0; kh < p.KH; kh++) {
    for (var kw = 0; kw < p.KW; kw++) {
      var off: array<i32, TN>;
      var ok: array<bool, TN>;
      for (var j = 0; j < TN; j++) {
        let ih = ih0[j] + kh * p.DH;
        let iw = iw0[j] + kw * p.DW;
        ok[j] = ih >= 0 && ih < p.H && iw >= 0 && iw < p.W;
        off[j] = select(0, xb[j] + ih * p.W + iw, ok[j]);
      }
      sumTap(&acc, off, ok, p.C, HW, ((kh * p.KW + kw) * p.C * KP + k0) / 4, KP / 4, lane);
    }
  }
#if ${PAIRS}
  var copy = acc; // see STEP
  let sums = &copy;
#else
  let sums = &acc;
#endif
  // Rows outermost, so that each row's epilogue parameters load once.
  var at: array<i32, TN>; // output index of column j in row 0 (-1: out of range)
  for (var j = 0; j < TN; j++) {
    let pos = pos0 + j * WG;
    let b = pos / OHW;
    at[j] = select(-1, b * p.K * OHW + pos - b * OHW, pos < P);
  }
  for (var i = 0; i < TM; i++) {
    let k = k0 + i;
    if (k < p.K) {
      let e = rowParameters(k);
      for (var j = 0; j < TN; j++) {
        if (at[j] >= 0) {
          storeWith(e, at[j] + k * OHW, f32((*sums)[i][j]));
        }
      }
    }
  }
}
#endif // TILED
#endif // FORWARD

#if ${GRAD_INPUT}
@group(0) @binding(1) var<storage, read> gy: array<f32>;
fn operand(i: i32) -> f32 { return gy[i]; } // what sumTap sums over
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(${OUTPUT_AT}) var<storage, read_write> gx: array<f32>;

// What the input gradient stores at flat index i, channel c: the sum, or with INPUT_AFFINE its
// input's producer's backward of it (scale: xScale[c], loaded once per row of stores).
fn gradientOut(i: i32, scale: f32, v: f32) -> f32 {
#if ${INPUT_AFFINE}
  return inputAffine(v, xIn[i], scale);
#else
  return v;
#endif
}

fn rowScale(c: i32) -> f32 {
#if ${INPUT_AFFINE}
  return xScale[c];
#else
  return 1.0;
#endif
}

#if ${TILED}
// The tiled input gradient, one output phase per wid.z as the direct kernel below: the weight
// [C, (kh, kw, k)] times the output gradient gathered for the phase's positions, over the taps that
// reach the phase (a uniform skip), slab by slab over k. Same order and fma as the direct kernel.
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let OHW = p.OH * p.OW;
  let ph = i32(wid.z) / p.SW;
  let pw = i32(wid.z) - ph * p.SW;
  let Hp = (p.H - ph + p.SH - 1) / p.SH; // rows of this phase
  let Wp = (p.W - pw + p.SW - 1) / p.SW;
  let Pp = p.N * Hp * Wp;
  let CP4 = (p.C + 3) / 4;
  let c0 = i32(wid.y) * BM;
  let pos0 = i32(wid.x) * BN;
  let t = i32(li);
  // The gradient column this thread stages: one phase position for the whole loop, rows brow + 4i.
  let bcol = t % BN;
  let brow = t / BN;
  let pos = pos0 + bcol;
  let b = pos / (Hp * Wp);
  let r = pos - b * Hp * Wp;
  let i0 = select(-1 << 20, r / Wp, pos < Pp);
  let j0 = r - (r / Wp) * Wp;
  let gb = b * p.K * OHW;
  // The weight vec4 this thread stages: row arow, channels c0 + 4 acol ..
  let arow = t / (BM / 4);
  let cq = c0 / 4 + t % (BM / 4);
  let tx = i32(lid.x);
  let ty = i32(lid.y);
  var acc: array<vec4<T>, 4>;
  for (var kh = 0; kh < p.KH; kh++) {
    let th = ph + p.PH - kh * p.DH;
    if (((th % p.SH) + p.SH) % p.SH != 0) { continue; }
    let oh = i0 + th / p.SH;
    for (var kw = 0; kw < p.KW; kw++) {
      let tw = pw + p.PW - kw * p.DW;
      if (((tw % p.SW) + p.SW) % p.SW != 0) { continue; }
      let ow = j0 + tw / p.SW;
      let inside = oh >= 0 && oh < p.OH && ow >= 0 && ow < p.OW;
      let tap = (kh * p.KW + kw) * p.K; // w is [KH, KW, K, C]
      for (var k0 = 0; k0 < p.K; k0 += BK) {
        let ka = k0 + arow;
        let aok = ka < p.K && cq < CP4;
        As[arow * (BM / 4) + t % (BM / 4)] = vec4<T>(select(vec4(0.0), w[select(0, (tap + ka) * CP4 + cq, aok)], aok));
        for (var i = 0; i < BK / 4; i++) {
          let k = k0 + brow + 4 * i;
          let ok = inside && k < p.K;
          Bs[(brow + 4 * i) * BN + bcol] = T(select(0.0, gy[select(0, gb + k * OHW + oh * p.OW + ow, ok)], ok));
        }
        accumulateSlab(&acc, tx, ty);
      }
    }
  }
  for (var j = 0; j < 4; j++) {
    let pj = pos0 + 4 * tx + j;
    if (pj < Pp) {
      let bj = pj / (Hp * Wp);
      let rj = pj - bj * Hp * Wp;
      let ih = ph + (rj / Wp) * p.SH;
      let iw = pw + (rj - (rj / Wp) * Wp) * p.SW;
      for (var i = 0; i < 4; i++) {
        let c = c0 + 4 * ty + i;
        if (c < p.C) {
          let at = (bj * p.C + c) * p.H * p.W + ih * p.W + iw;
          gx[at] = gradientOut(at, rowScale(c), f32(acc[j][i]));
        }
      }
    }
  }
}
#else
// gx[b, c, ih, iw] = sum over (k, kh, kw) with oh*SH = ih + PH - kh*DH (and likewise ow) of
// w[k, c, kh, kw] * gy[b, k, oh, ow]. A transposed convolution, split by output phase
// (ih mod SH, iw mod SW): within one phase the taps that contribute are the same for every pixel, so
// the kernel skips the others with a uniform branch instead of masking 3 of 4 FMAs at stride 2.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
#if ${SUBGROUP}
        @builtin(subgroup_invocation_id) lane: u32,
#endif
) {
#if ${SUBGROUP}
#else
  let lane = 0u;
#endif
  let OHW = p.OH * p.OW;
  let HW = p.H * p.W;
  let ph = i32(wid.z) / p.SW;
  let pw = i32(wid.z) - ph * p.SW;
  let Hp = (p.H - ph + p.SH - 1) / p.SH; // rows of this phase
  let Wp = (p.W - pw + p.SW - 1) / p.SW;
  let Pp = p.N * Hp * Wp;
  let c0 = i32(wid.y) * TM;
  let CP = (p.C + 3) / 4 * 4;
  let pos0 = i32(wid.x) * (WG * TN) + i32(lid.x);

  var ii: array<i32, TN>;
  var jj: array<i32, TN>;
  var gb: array<i32, TN>;
  for (var j = 0; j < TN; j++) {
    let pos = pos0 + j * WG;
    let b = pos / (Hp * Wp);
    let r = pos - b * Hp * Wp;
    let i = r / Wp;
    ii[j] = select(-1 << 20, i, pos < Pp);
    jj[j] = r - i * Wp;
    gb[j] = b * p.K * OHW;
  }
  var acc: array<array<T, TN>, TM>;
  for (var kh = 0; kh < p.KH; kh++) {
    let th = ph + p.PH - kh * p.DH;
    if (((th % p.SH) + p.SH) % p.SH != 0) { continue; }
    for (var kw = 0; kw < p.KW; kw++) {
      let tw = pw + p.PW - kw * p.DW;
      if (((tw % p.SW) + p.SW) % p.SW != 0) { continue; }
      var off: array<i32, TN>;
      var ok: array<bool, TN>;
      for (var j = 0; j < TN; j++) {
        let oh = ii[j] + th / p.SH;
        let ow = jj[j] + tw / p.SW;
        ok[j] = oh >= 0 && oh < p.OH && ow >= 0 && ow < p.OW;
        off[j] = select(0, gb[j] + oh * p.OW + ow, ok[j]);
      }
      sumTap(&acc, off, ok, p.K, OHW, ((kh * p.KW + kw) * p.K * CP + c0) / 4, CP / 4, lane);
    }
  }
#if ${PAIRS}
  var copy = acc; // see STEP
  let sums = &copy;
#else
  let sums = &acc;
#endif
  var scales: array<f32, TM>;
  for (var i = 0; i < TM; i++) {
    scales[i] = rowScale(min(c0 + i, p.C - 1));
  }
  for (var j = 0; j < TN; j++) {
    let pos = pos0 + j * WG;
    if (pos < Pp) {
      let b = pos / (Hp * Wp);
      let ih = ph + ii[j] * p.SH;
      let iw = pw + jj[j] * p.SW;
      for (var i = 0; i < TM; i++) {
        let c = c0 + i;
        if (c < p.C) {
          let at = (b * p.C + c) * HW + ih * p.W + iw;
          gx[at] = gradientOut(at, scales[i], f32((*sums)[i][j]));
        }
      }
    }
  }
}
#endif // TILED
#endif // GRAD_INPUT

#if ${GRAD_WEIGHT}
@group(0) @binding(1) var<storage, read> gyt: array<vec4<f32>>; // [N, OH*OW, K]
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> gw: array<f32>;  // [splits, K, C*KH*KW]

// gw[k, c, kh, kw] = sum over (b, oh, ow) of gy[b, k, oh, ow] * x[b, c, oh*SH - PH + kh*DH, ...].
// Lanes run over q = (c, kh, kw); the reduction over positions is split across wid.z when the
// output alone has too few tiles to keep the device busy, and the splits are summed afterwards.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
#if ${SUBGROUP}
        @builtin(subgroup_invocation_id) lane: u32,
#endif
) {
  let OHW = p.OH * p.OW;
  let HW = p.H * p.W;
  let KHW = p.KH * p.KW;
  let Q = p.C * KHW;
  let P = p.N * OHW;
  let k0 = i32(wid.y) * TM;
  let KP = (p.K + 3) / 4 * 4;
  let q0 = i32(wid.x) * (WG * TN) + i32(lid.x);
  let start = i32(wid.z) * p.chunk;
  let end = min(start + p.chunk, P);

  var dh: array<i32, TN>;
  var dw: array<i32, TN>;
  var xc: array<i32, TN>;
  for (var j = 0; j < TN; j++) {
    let q = q0 + j * WG;
    let c = q / KHW;
    let r = q - c * KHW;
    let kh = r / p.KW;
    dh[j] = select(-1 << 20, kh * p.DH - p.PH, q < Q);
    dw[j] = (r - kh * p.KW) * p.DW - p.PW;
    xc[j] = c * HW;
  }
  var acc: array<array<T, TN>, TM>;
  var b = start / OHW;
  var r = start - b * OHW;
  var oh = r / p.OW;
  var ow = r - oh * p.OW;
  for (var pos = start; pos < end; pos++) {
    let xb = b * p.C * HW;
    let gi = (pos * KP + k0) / 4;
    var xv: array<f32, TN>;
    for (var j = 0; j < TN; j++) {
      let ih = oh * p.SH + dh[j];
      let iw = ow * p.SW + dw[j];
      let ok = ih >= 0 && ih < p.H && iw >= 0 && iw < p.W;
      xv[j] = select(0.0, x[select(0, xb + xc[j] + ih * p.W + iw, ok)], ok);
    }
#if ${SUBGROUP}
    let rows = shareRows(gyt[gi + i32(lane % (TM / 4))]);
    for (var i4 = 0; i4 < TM / 4; i4++) {
      rankOneUpdate(&acc, i4, vec4<T>(rows[i4]), &xv);
    }
#else
    for (var i4 = 0; i4 < TM / 4; i4++) {
      rankOneUpdate(&acc, i4, gyt[gi + i4], &xv);
    }
#endif
    ow++;
    if (ow == p.OW) { ow = 0; oh++; if (oh == p.OH) { oh = 0; b++; } }
  }
  let base = i32(wid.z) * p.K * Q;
  for (var j = 0; j < TN; j++) {
    let q = q0 + j * WG;
    if (q < Q) {
      for (var i = 0; i < TM; i++) {
        let k = k0 + i;
        if (k < p.K) {
          gw[base + k * Q + q] = acc[i][j];
        }
      }
    }
  }
}
#endif
