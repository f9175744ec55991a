import type { GpuContext } from '../../gpu/device.ts';
import type { Kernel } from '../../gpu/kernel.ts';
import { record } from '../grad.ts';
import { Tensor } from '../tensor.ts';
import { grid, launch, sameShape } from './launch.ts';

// Forward kernels and backward rules of the elementwise ops, side by side.

const BIN = { combine: 0, mul: 1, reluGrad: 2, guidedReluGrad: 3, div: 4, clipGrad: 5, sigmoidGrad: 6, leakyReluGrad: 7, tanhGrad: 8, erfGrad: 9, hardswishGrad: 10 } as const;
const UN = { affine: 0, relu: 1, abs: 2, square: 3, sqrt: 4, exp: 5, signScale: 6, clip: 7, sigmoid: 8, leakyRelu: 9, tanh: 10, erf: 11, hardswish: 12 } as const;

/** An elementwise kernel over n values: four per invocation (vec4) where n is a multiple of 4. */
function elementwise(ctx: GpuContext, name: string, arity: 0 | 1 | 2, op: number, n: number) {
  const VEC4 = n % 4 === 0, lanes = VEC4 ? n / 4 : n;
  return { k: { name, file: 'elementwise', inputs: arity, outputs: 1, defines: { BINARY: arity === 2, UNARY: arity === 1, OP: op, VEC4 } } as Kernel, ints: [lanes], workgroups: grid(ctx, lanes) };
}

function binary(name: string, op: number, a: Tensor, b: Tensor, alpha = 0, beta = 0): Tensor {
  sameShape(name, a, b);
  const e = elementwise(a.ctx, name, 2, op, a.size);
  return launch(e.k, [a, b], a.shape, { ints: e.ints, floats: [alpha, beta], workgroups: e.workgroups });
}

function unary(name: string, op: number, x: Tensor, alpha = 0, beta = 0): Tensor {
  const e = elementwise(x.ctx, name, 1, op, x.size);
  return launch(e.k, [x], x.shape, { ints: e.ints, floats: [alpha, beta], workgroups: e.workgroups });
}

export function fill(ctx: GpuContext, shape: readonly number[], value: number): Tensor {
  const out = new Tensor(ctx, shape);
  if (value === 0 && !Object.is(value, -0)) ctx.clear(out.buffer, 0, out.size * 4);
  else {
    const e = elementwise(ctx, 'fill', 0, 0, out.size);
    ctx.dispatch(e.k, { inputs: [], outputs: [out.buffer], ints: e.ints, floats: [value, 0], workgroups: e.workgroups });
  }
  return out;
}

export function zerosLike(t: Tensor): Tensor {
  return fill(t.ctx, t.shape, 0);
}

/** alpha * a + beta * b */
export function combine(a: Tensor, b: Tensor, alpha: number, beta: number): Tensor {
  // A coefficient of 1 passes the gradient on as a view: the residual adds of a ResNet copy nothing.
  const pass = (g: Tensor, k: number) => (k === 1 ? g.view(g.shape) : scale(g, k));
  return record(binary('combine', BIN.combine, a, b, alpha, beta), 'combine', [a, b], (g, needs) => [needs[0] ? pass(g, alpha) : null, needs[1] ? pass(g, beta) : null]);
}

export function add(a: Tensor, b: Tensor): Tensor {
  return combine(a, b, 1, 1);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  return combine(a, b, 1, -1);
}

/** alpha * x + y */
export function axpy(alpha: number, x: Tensor, y: Tensor): Tensor {
  return combine(x, y, alpha, 1);
}

export function mul(a: Tensor, b: Tensor): Tensor {
  return record(binary('mul', BIN.mul, a, b), 'mul', [a, b], (g, needs) => [
    needs[0] ? binary('mul', BIN.mul, g, b) : null,
    needs[1] ? binary('mul', BIN.mul, g, a) : null,
  ]);
}

export function div(a: Tensor, b: Tensor): Tensor {
  return record(binary('div', BIN.div, a, b), 'div', [a, b], (g, needs) => {
    const ga = needs[0] ? binary('div', BIN.div, g, b) : null;
    let gb: Tensor | null = null;
    if (needs[1]) {
      // d(a/b)/db = -a/b^2 = -(a/b)/b
      const q = binary('div', BIN.div, a, b), q2 = binary('div', BIN.div, q, b), m = binary('mul', BIN.mul, g, q2);
      gb = unary('scale', UN.affine, m, -1, 0);
      q.release(); q2.release(); m.release();
    }
    return [ga, gb];
  });
}

/** a * x + b */
export function affine(x: Tensor, a: number, b = 0): Tensor {
  return record(unary('affine', UN.affine, x, a, b), 'affine', [x], (g) => [scale(g, a)]);
}

export function scale(x: Tensor, a: number): Tensor {
  return affine(x, a, 0);
}

export function relu(x: Tensor): Tensor {
  const y = unary('relu', UN.relu, x);
  return record(y, 'relu', [x], (g) => [reluBackward(g, y)]);
}

/** The gradient through a ReLU whose output was y: g where y > 0 (0 at 0, as PyTorch). */
export function reluBackward(g: Tensor, y: Tensor): Tensor {
  return binary('relu_backward', BIN.reluGrad, g, y);
}

/**
 * ReLU whose backward pass also zeroes negative gradients (GuidedBackprop), or passes only the
 * positive part of the gradient regardless of the input (Deconvolution), as Captum's hooks do.
 */
export function reluWithRule(x: Tensor, rule: 'guided' | 'deconv'): Tensor {
  const y = unary('relu', UN.relu, x);
  return record(y, `relu_${rule}`, [x], (g) => [
    rule === 'guided' ? binary('relu_guided_backward', BIN.guidedReluGrad, g, y) : unary('relu', UN.relu, g),
  ]);
}

export function abs(x: Tensor): Tensor {
  return record(unary('abs', UN.abs, x), 'abs', [x], (g) => {
    const s = unary('sign', UN.signScale, x, 1);
    const r = binary('mul', BIN.mul, g, s);
    s.release();
    return [r];
  });
}

export function square(x: Tensor): Tensor {
  return record(unary('square', UN.square, x), 'square', [x], (g) => {
    const r = binary('mul', BIN.mul, g, x);
    const r2 = unary('scale', UN.affine, r, 2, 0);
    r.release();
    return [r2];
  });
}

export function sqrt(x: Tensor): Tensor {
  const y = unary('sqrt', UN.sqrt, x);
  return record(y, 'sqrt', [x], (g) => {
    const q = binary('div', BIN.div, g, y);
    const r = unary('scale', UN.affine, q, 0.5, 0);
    q.release();
    return [r];
  });
}

export function exp(x: Tensor): Tensor {
  const y = unary('exp', UN.exp, x);
  return record(y, 'exp', [x], (g) => [binary('mul', BIN.mul, g, y)]);
}

/**
 * Clip to [min, max] (ONNX Clip, torch's hardtanh: ReLU6 is clip(x, 0, 6)); NaN passes. The gradient
 * is hardtanh's: none at or beyond a bound (ReLU6 at exactly 0 or 6 passes nothing, as in PyTorch).
 */
export function clip(x: Tensor, min: number, max: number): Tensor {
  if (!(min <= max)) throw new Error(`clip: min ${min} is above max ${max}`);
  const y = unary('clip', UN.clip, x, min, max);
  return record(y, 'clip', [x], (g) => [binary('clip_backward', BIN.clipGrad, g, y, min, max)]);
}

export function sigmoid(x: Tensor): Tensor {
  const y = unary('sigmoid', UN.sigmoid, x);
  return record(y, 'sigmoid', [x], (g) => [binary('sigmoid_backward', BIN.sigmoidGrad, g, y)]);
}

/** torch's leaky_relu with negative slope `slope`; the gradient from the input (x > 0 ? g : g * slope). */
export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  return record(unary('leaky_relu', UN.leakyRelu, x, slope), 'leaky_relu', [x], (g) => [binary('leaky_relu_backward', BIN.leakyReluGrad, g, x, slope)]);
}

export function tanh(x: Tensor): Tensor {
  const y = unary('tanh', UN.tanh, x);
  return record(y, 'tanh', [x], (g) => [binary('tanh_backward', BIN.tanhGrad, g, y)]);
}

/** The error function (ONNX Erf, GELU's); accurate to about 1e-7. */
export function erf(x: Tensor): Tensor {
  return record(unary('erf', UN.erf, x), 'erf', [x], (g) => [binary('erf_backward', BIN.erfGrad, g, x)]);
}

/** torch's hardswish, x * relu6(x + 3) / 6, with its gradient's cases (0 below -3, x / 3 + 0.5 up to 3, 1 above). */
export function hardswish(x: Tensor): Tensor {
  return record(unary('hardswish', UN.hardswish, x), 'hardswish', [x], (g) => [binary('hardswish_backward', BIN.hardswishGrad, g, x)]);
}
