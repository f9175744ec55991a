/**
 * Captum's integral approximation rules (captum.attr._utils.approximation_methods): for n steps, the
 * points alpha in [0, 1] at which gradients are taken and the weight of each.
 */
export type IntegrationMethod = 'gausslegendre' | 'riemann_left' | 'riemann_right' | 'riemann_middle' | 'riemann_trapezoid';
export const INTEGRATION_METHODS: IntegrationMethod[] = ['gausslegendre', 'riemann_left', 'riemann_right', 'riemann_middle', 'riemann_trapezoid'];

/**
 * The most Gauss-Legendre nodes computed: each node's Newton steps evaluate P_n by its n-term
 * recurrence, so the table costs O(n^2) (10000 nodes take about a second). The Riemann rules take any count.
 */
export const MAX_GAUSS_LEGENDRE_STEPS = 10_000;
const tables = new Map<number, { nodes: number[]; weights: number[] }>();

/** Gauss-Legendre nodes (ascending, in [-1, 1]) and weights, as numpy.polynomial.legendre.leggauss; computed once per n. */
export function legendreGauss(n: number): { nodes: number[]; weights: number[] } {
  if (n > MAX_GAUSS_LEGENDRE_STEPS) throw new Error(`gausslegendre takes at most ${MAX_GAUSS_LEGENDRE_STEPS} steps, got ${n}; use fewer steps or a riemann_* method`);
  let t = tables.get(n);
  if (!t) tables.set(n, (t = computeLegendreGauss(n)));
  return { nodes: [...t.nodes], weights: [...t.weights] };
}

function computeLegendreGauss(n: number): { nodes: number[]; weights: number[] } {
  const nodes = new Array<number>(n), weights = new Array<number>(n);
  for (let i = 0; i < Math.ceil(n / 2); i++) {
    // Newton's method on P_n from Chebyshev-like initial guesses.
    let x = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let dp = 0;
    for (let iter = 0; iter < 100; iter++) {
      let p0 = 1, p1 = x;
      for (let k = 2; k <= n; k++) {
        const p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      const pn = n === 1 ? x : p1, pn1 = n === 1 ? 1 : p0;
      dp = (n * (x * pn - pn1)) / (x * x - 1);
      const dx = pn / dp;
      x -= dx;
      if (Math.abs(dx) < 1e-16) break;
    }
    if (n === 1) { x = 0; dp = 1; }
    const w = 2 / ((1 - x * x) * dp * dp);
    nodes[n - 1 - i] = x;
    nodes[i] = -x;
    weights[i] = weights[n - 1 - i] = n === 1 ? 2 : w;
  }
  return { nodes, weights };
}

export function approximationParameters(method: IntegrationMethod, n: number): { alphas: number[]; stepSizes: number[] } {
  if (!Number.isInteger(n) || n < 1) throw new Error(`nSteps must be a positive integer, got ${n}`);
  const lin = (a: number, b: number) => Array.from({ length: n }, (_, i) => (n === 1 ? a : a + ((b - a) * i) / (n - 1)));
  switch (method) {
    case 'gausslegendre': {
      const { nodes, weights } = legendreGauss(n);
      return { alphas: nodes.map((x) => 0.5 * (1 + x)), stepSizes: weights.map((w) => 0.5 * w) };
    }
    case 'riemann_left':
      return { alphas: lin(0, 1 - 1 / n), stepSizes: new Array(n).fill(1 / n) };
    case 'riemann_right':
      return { alphas: lin(1 / n, 1), stepSizes: new Array(n).fill(1 / n) };
    case 'riemann_middle':
      return { alphas: lin(1 / (2 * n), 1 - 1 / (2 * n)), stepSizes: new Array(n).fill(1 / n) };
    case 'riemann_trapezoid':
      // Captum's rule, kept exactly: steps of 1/n with the two ends halved (they sum to 1 - 1/n).
      if (n < 2) throw new Error('riemann_trapezoid needs at least 2 steps');
      return { alphas: lin(0, 1), stepSizes: [1 / (2 * n), ...new Array(n - 2).fill(1 / n), 1 / (2 * n)] };
  }
  throw new Error(`unknown integration method '${method}'; use one of ${INTEGRATION_METHODS.join(', ')}`);
}
