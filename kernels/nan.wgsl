// NaN helpers for kernels that must decide or produce NaN as PyTorch does (included where needed).

// NaN by its bits: compilers may fold v != v to false.
fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }

// A quiet NaN made at run time from a value that is 0 there: the compiler refuses a NaN constant.
fn nanFrom(zero: u32) -> f32 { return bitcast<f32>(0x7fc00000u + zero); }
