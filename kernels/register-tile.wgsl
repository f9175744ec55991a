// The register tile shared by the direct convolution kernels (conv.wgsl) and Winograd's GEMMs
// (winograd.wgsl), included where a kernel has declared TM, TN (and SUBGROUP, with `enable subgroups;`
// at its top): each invocation accumulates TM rows x TN columns, the rows shared by the workgroup.

// The tile's arithmetic type: f16 where the kernel asks for it (F16, with `enable f16;` at its top:
// convSettings.precision), else f32. Operands are converted as they are loaded, results as stored.
#if ${F16}
alias T = f16;
#else
alias T = f32;
#endif

// One step of a register tile's GEMM: rows 4 i4 .. 4 i4 + 3 of acc gain a (one vec4 of the TM rows)
// times b (the TN columns), each by one fma.
fn rankOneUpdate(acc: ptr<function, array<array<T, TN>, TM>>, i4: i32, a: vec4<T>, b: ptr<function, array<T, TN>>) {
  for (var j = 0; j < TN; j++) {
    (*acc)[4 * i4][j] = fma(a.x, (*b)[j], (*acc)[4 * i4][j]);
    (*acc)[4 * i4 + 1][j] = fma(a.y, (*b)[j], (*acc)[4 * i4 + 1][j]);
    (*acc)[4 * i4 + 2][j] = fma(a.z, (*b)[j], (*acc)[4 * i4 + 2][j]);
    (*acc)[4 * i4 + 3][j] = fma(a.w, (*b)[j], (*acc)[4 * i4 + 3][j]);
  }
}

#if ${SUBGROUP}
// The TM rows at one step of the sum are TM / 4 vec4s at an address uniform in the workgroup. Inside a
// loop lavapipe cannot prove lane 0 active, so it loads a uniform address once per lane: 32 scalar
// loads, each bounds-checked, for one vec4. With subgroups, lane i4 < TM / 4 loads vec4 i4 (`mine`: the kernel passes its load at
// index lane % (TM / 4)) and the others get it by broadcast, a register move: for 16 rows, a quarter
// of the loads. Host side: sharesRows (src/autograd/ops/conv.ts).
fn shareRows(mine: vec4<f32>) -> array<vec4<f32>, TM / 4> {
  let lanes = array(subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u), subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u),
                    subgroupBroadcast(mine, 4u), subgroupBroadcast(mine, 5u), subgroupBroadcast(mine, 6u), subgroupBroadcast(mine, 7u));
  var rows: array<vec4<f32>, TM / 4>;
  for (var i4 = 0; i4 < TM / 4; i4++) {
    rows[i4] = lanes[i4];
  }
  return rows;
}
#endif
