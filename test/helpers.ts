import { GpuContext } from '../src/gpu/device.ts';
import { createNodeGpu } from '../src/io/node-gpu.ts';
import { Tensor } from '../src/autograd/tensor.ts';
import { fromArray } from '../src/autograd/ops/index.ts';
import { uniformRandoms } from '../src/attr/noise.ts';

let gpu: Promise<GpuContext> | null = null;

/** One device for the whole test run (one device per adapter on dawn.node). */
export function getGpu(): Promise<GpuContext> {
  return (gpu ??= createNodeGpu());
}

export async function closeGpu(): Promise<void> {
  if (gpu) (await gpu).destroy();
  gpu = null;
}

/** Deterministic pseudo-random numbers in [-1, 1), from the engine's seeded generator. */
export function randoms(n: number, seed = 1): Float64Array {
  return Float64Array.from(uniformRandoms(seed, n), (u) => u * 2 - 1);
}

export async function gpuTensor(data: ArrayLike<number>, shape: number[], requiresGrad = false): Promise<Tensor> {
  const t = fromArray(await getGpu(), data, shape);
  t.requiresGrad = requiresGrad;
  return t;
}

/** Largest |a - b| relative to max |b| (and an absolute floor for tiny references). */
export function relMaxError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0, r = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    r = Math.max(r, Math.abs(b[i]));
  }
  return m / Math.max(r, 1e-12);
}

export function relL2Error(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, r = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    r += b[i] ** 2;
  }
  return Math.sqrt(d) / Math.max(Math.sqrt(r), 1e-12);
}

/** Asserts both the relative max and relative L2 errors are within tol. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  const em = relMaxError(actual, expected), e2 = relL2Error(actual, expected);
  if (!(em <= tol && e2 <= tol)) {
    throw new Error(`${what}: relative max error ${em.toExponential(3)}, relative L2 error ${e2.toExponential(3)} exceed ${tol}`);
  }
}

/**
 * Central finite differences of a scalar function of x, in float64: the reference for every backward
 * rule. `f` must be a float64 CPU implementation of the op followed by a fixed weighting.
 */
export function numericGrad(f: (x: Float64Array) => number, x: Float64Array, eps = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  const y = Float64Array.from(x);
  for (let i = 0; i < x.length; i++) {
    y[i] = x[i] + eps;
    const fp = f(y);
    y[i] = x[i] - eps;
    const fm = f(y);
    y[i] = x[i];
    g[i] = (fp - fm) / (2 * eps);
  }
  return g;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
