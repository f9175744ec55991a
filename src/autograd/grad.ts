import { type GradNode, Tensor } from './tensor.ts';
import { add, fill } from './ops/elementwise.ts';

let gradEnabled = true;

/** Runs fn without recording a graph (inference, attribution forward passes that need no gradient). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Attaches the backward rule of an op to its output, when any input takes a gradient; `fusion` as GradNode's. */
export function record(out: Tensor, op: string, inputs: Tensor[], backward: GradNode['backward'], fusion: Pick<GradNode, 'outputAffine' | 'appliesInputAffine'> = {}): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward, ...fusion };
  }
  return out;
}

/** Tensors reachable from `root` through the graph, inputs before the ops that use them. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: ResNet-152's graph is deep enough to matter for the JS stack.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i];
      if (next.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}

/**
 * Gradients of `output` with respect to each of `inputs` (leaves or intermediate tensors), as
 * torch.autograd.grad: one reverse topological pass over the graph, gradients of tensors used several
 * times summed (a residual network costs one pass, not 2^depth). `gradOutput` seeds the pass; by
 * default ones, so a scalar output gives d output / d input. An input the output does not depend on
 * gets zeros. Intermediate gradients are released as soon as they have been passed on.
 */
export function grad(output: Tensor, inputs: Tensor[], gradOutput?: Tensor): Tensor[] {
  if (!output.requiresGrad) {
    throw new Error('grad: the output does not depend on any tensor that requires grad (set requiresGrad on the input, and do not compute it under noGrad)');
  }
  if (gradOutput && gradOutput.size !== output.size) {
    throw new Error(`grad: gradOutput has shape [${gradOutput.shape.join(', ')}], output has [${output.shape.join(', ')}]`);
  }
  const order = topologicalOrder(output);
  const wanted = new Set(inputs);
  // Only tensors on a path to a wanted input need a gradient.
  const needed = new Set<Tensor>();
  for (const t of order) {
    if (wanted.has(t) || (t.node && t.node.inputs.some((i) => needed.has(i)))) needed.add(t);
  }
  // A producer's outputAffine map moves into its consumer's rule where that consumer is the only one
  // (the gradient is that consumer's alone) and nobody asked for the raw gradient.
  const uses = new Map<Tensor, number>();
  for (const t of order) for (const i of t.node?.inputs ?? []) uses.set(i, (uses.get(i) ?? 0) + 1);
  const affineApplied = new Set<Tensor>();
  const grads = new Map<Tensor, Tensor>();
  grads.set(output, gradOutput ?? fill(output.ctx, output.shape, 1));
  for (let n = order.length - 1; n >= 0; n--) {
    const t = order[n];
    const g = grads.get(t);
    if (!g || !t.node) continue;
    const needs = t.node.inputs.map((i) => needed.has(i));
    const node = t.node;
    // Backward rules run ops on tensors that may require grad (weights): record nothing.
    const applyInputAffine = node.inputs.map((input, i) => needs[i] && !!node.appliesInputAffine?.[i] && !!input.node?.outputAffine && uses.get(input) === 1 && !wanted.has(input));
    const inGrads = needs.some((x) => x) ? noGrad(() => node.backward(g, needs, { affineApplied: affineApplied.has(t), applyInputAffine })) : [];
    if (!wanted.has(t) && g !== gradOutput) {
      g.release();
      grads.delete(t);
    }
    t.node.inputs.forEach((input, i) => {
      const gi = inGrads[i];
      if (!gi || !needs[i]) {
        gi?.release();
        return;
      }
      if (applyInputAffine[i]) affineApplied.add(input);
      const prev = grads.get(input);
      if (prev) {
        grads.set(input, noGrad(() => add(prev, gi)));
        prev.release();
        gi.release();
      } else {
        grads.set(input, gi.shape.length === input.shape.length ? gi : gi.reshapeInto(input.shape));
      }
    });
  }
  return inputs.map((t) => grads.get(t) ?? fill(t.ctx, t.shape, 0));
}

/** Accumulates d output / d leaf into `.grad` of every leaf that requires grad, as Tensor.backward. */
export function backward(output: Tensor, gradOutput?: Tensor): void {
  const leaves = topologicalOrder(output).filter((t) => !t.node && t.requiresGrad);
  const gs = grad(output, leaves, gradOutput);
  leaves.forEach((leaf, i) => {
    if (leaf.grad) {
      const sum = noGrad(() => add(leaf.grad!, gs[i]));
      leaf.grad.release();
      gs[i].release();
      leaf.grad = sum;
    } else {
      leaf.grad = gs[i];
    }
  });
}

