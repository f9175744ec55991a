// Elementwise ops over flat arrays. OP picks the function at compile time; a and b are uniform scalars.
// Every thread handles one element V: a vec4 of four where the length is a multiple of 4 (VEC4; on
// lavapipe a vec4 load costs 1.7 scalar ones), else an f32. The grid is 2-D so that more than 65535
// workgroups fit.
struct Params { n: i32, a: f32, b: f32, } // n: elements V
@group(0) @binding(0) var<uniform> p: Params;
#if ${VEC4}
alias V = vec4<f32>;
#else
alias V = f32;
#endif
#if ${BINARY}
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read> z: array<V>;
@group(0) @binding(3) var<storage, read_write> y: array<V>;
#elif ${UNARY}
@group(0) @binding(1) var<storage, read> x: array<V>;
@group(0) @binding(2) var<storage, read_write> y: array<V>;
#else
@group(0) @binding(1) var<storage, read_write> y: array<V>;
#endif

const OP = ${OP};
const WG = 64;

// erf, which WGSL lacks: its Taylor series below 0.5 in magnitude (relative error under 1e-8 there),
// and 1 - erfc above, by Numerical Recipes' Chebyshev fit of erfc (fractional error under 1.2e-7).
fn erfOf(x: V) -> V {
  let a = abs(x);
  let x2 = x * x;
  let series = x * V(1.1283791670955126) * (V(1.0) + x2 * (V(-1.0 / 3.0) + x2 * (V(0.1) + x2 * (V(-1.0 / 42.0) + x2 * (V(1.0 / 216.0) + x2 * V(-1.0 / 1320.0))))));
  let t = V(1.0) / (V(1.0) + V(0.5) * a);
  let erfc = t * exp(-a * a - V(1.26551223) + t * (V(1.00002368) + t * (V(0.37409196) + t * (V(0.09678418) + t * (V(-0.18628806) + t * (V(0.27886807)
    + t * (V(-1.13520398) + t * (V(1.48851587) + t * (V(-0.82215223) + t * V(0.17087277))))))))));
  return select(sign(x) * (V(1.0) - erfc), series, a < V(0.5));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = i32((wid.y * nwg.x + wid.x) * WG + lid.x);
  if (i >= p.n) { return; }
  let zero = V(0.0);
#if ${BINARY}
  let u = x[i];
  let v = z[i];
  var r: V;
  if (OP == 0) { r = p.a * u + p.b * v; }            // linear combination: add, sub, axpy
  else if (OP == 1) { r = u * v; }                    // mul
  else if (OP == 2) { r = select(u, zero, v <= zero); } // ReLU backward as PyTorch's threshold_backward: 0 where the output v <= 0 (at 0 too), u elsewhere (NaN too)
  else if (OP == 3) { r = select(u, zero, (v <= zero) | (u <= zero)); } // guided backprop: also drop negative gradients (Captum's relu of the gradient)
  else if (OP == 4) { r = u / v; }
  else if (OP == 5) { r = select(u, zero, (v <= V(p.a)) | (v >= V(p.b))); } // hardtanh (ReLU6) backward: 0 at and beyond the bounds, as PyTorch
  else if (OP == 6) { r = u * v * (V(1.0) - v); }     // sigmoid backward, from its output v
  else if (OP == 7) { r = select(u * V(p.a), u, v > zero); } // leaky ReLU backward, from its input v (PyTorch: x > 0 ? g : g * slope)
  else if (OP == 8) { r = u * (V(1.0) - v * v); }     // tanh backward, from its output v
  else if (OP == 9) { r = u * V(1.1283791670955126) * exp(-v * v); } // erf backward, from its input v
  else if (OP == 10) { r = select(select(u * (v / V(3.0) + V(0.5)), u, v > V(3.0)), zero, v < V(-3.0)); } // hardswish backward, from its input (PyTorch's cases)
  y[i] = r;
#elif ${UNARY}
  let u = x[i];
  var r: V;
  if (OP == 0) { r = p.a * u + p.b; }                 // scale and shift
  else if (OP == 1) { r = select(zero, u, !(u <= zero)); } // ReLU; NaN passes (max() may drop it)
  else if (OP == 2) { r = abs(u); }
  else if (OP == 3) { r = u * u; }
  else if (OP == 4) { r = sqrt(u); }
  else if (OP == 5) { r = exp(u); }
  else if (OP == 6) { r = select(V(-p.a), V(p.a), u >= zero) * select(V(1.0), zero, u == zero); } // a * sign(u)
  else if (OP == 7) { r = select(select(u, V(p.a), u < V(p.a)), V(p.b), u > V(p.b)); } // clip to [a, b]; NaN passes
  else if (OP == 8) { r = V(1.0) / (V(1.0) + exp(-u)); } // sigmoid
  else if (OP == 9) { r = select(u * V(p.a), u, u > zero); } // leaky ReLU with slope a; NaN passes
  else if (OP == 10) { r = tanh(u); }
  else if (OP == 11) { r = erfOf(u); }
  else if (OP == 12) { r = u * min(max(u + V(3.0), zero), V(6.0)) / V(6.0); } // hardswish, in PyTorch's order
  y[i] = r;
#else
  y[i] = V(p.a);                                      // fill
#endif
}
