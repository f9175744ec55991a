// Batched matrix product with arbitrary strides (so transposes cost nothing):
// c[b, m, n] = alpha * sum over k of a[b, m, k] * b[b, k, n] (+ bias[n]).
// Same register tiling as conv.wgsl: TM rows shared by the workgroup (uniform loads of a), TN
// columns per lane spaced WG apart (neighbouring lanes read neighbouring columns of b).
struct Params {
  M: i32, N: i32, K: i32,
  sab: i32, sam: i32, sak: i32,
  sbb: i32, sbk: i32, sbn: i32,
  alpha: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
#if ${BIAS}
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
#else
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
#endif

const TM = ${TM};
const TN = ${TN};
const WG = ${WG};

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let batch = i32(wid.z);
  let m0 = i32(wid.y) * TM;
  let n0 = i32(wid.x) * (WG * TN) + i32(lid.x);
  var acc: array<array<f32, TN>, TM>;
  var arow: array<i32, TM>;
  for (var i = 0; i < TM; i++) {
    arow[i] = batch * p.sab + min(m0 + i, p.M - 1) * p.sam;
  }
  var bcol: array<i32, TN>;
  for (var j = 0; j < TN; j++) {
    bcol[j] = batch * p.sbb + min(n0 + j * WG, p.N - 1) * p.sbn;
  }
  for (var k = 0; k < p.K; k++) {
    var bv: array<f32, TN>;
    for (var j = 0; j < TN; j++) {
      bv[j] = b[bcol[j] + k * p.sbk];
    }
    for (var i = 0; i < TM; i++) {
      let av = a[arow[i] + k * p.sak];
      for (var j = 0; j < TN; j++) {
        acc[i][j] = fma(av, bv[j], acc[i][j]);
      }
    }
  }
  for (var i = 0; i < TM; i++) {
    let m = m0 + i;
    if (m >= p.M) { break; }
    for (var j = 0; j < TN; j++) {
      let n = n0 + j * WG;
      if (n < p.N) {
#if ${BIAS}
        c[(batch * p.M + m) * p.N + n] = p.alpha * acc[i][j] + bias[n];
#else
        c[(batch * p.M + m) * p.N + n] = p.alpha * acc[i][j];
#endif
      }
    }
  }
}
