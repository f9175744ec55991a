/**
 * Captum Insights' text and general (tabular) features (captum/insights/attr_vis/features.py) and its
 * net contribution per feature: what a card shows of each input, computed from the attributions the
 * same way on the server and in the browser. Captum divides with safe_div: a zero norm leaves zeros.
 */

/** What a card shows of one feature (Captum's FeatureOutput). */
export interface FeatureOutput {
  name: string;
  /** The input as shown: the tokens of a text, "category: value" per column of a table row. */
  base: string[];
  /** Per token or column, the attribution scaled to [-100, 100]. */
  modified: number[];
  type: 'text' | 'general';
  contribution: number;
}

const safeDiv = (v: number, d: number) => v / (d !== 0 ? d : 1);

/** A text input (token ids [1, L]): attributions [L] or [L, D] are summed over D and scaled by their largest magnitude. */
export class TextFeature {
  constructor(readonly name: string, readonly options: { visualizationTransform?: (ids: number[]) => string[] } = {}) {
    if (typeof name !== 'string' || !name) throw new Error('TextFeature needs a name');
  }

  visualize(attribution: ArrayLike<number>, tokens: number, data: number[], contributionFrac: number): FeatureOutput {
    if (attribution.length % tokens !== 0) throw new Error(`TextFeature ${this.name}: ${attribution.length} attributions for ${tokens} tokens`);
    const dim = attribution.length / tokens, perToken = new Array(tokens).fill(0);
    for (let t = 0; t < tokens; t++) for (let d = 0; d < dim; d++) perToken[t] += attribution[t * dim + d];
    const max = Math.max(...perToken.map(Math.abs)); // the L-infinity norm
    return {
      name: this.name, base: this.options.visualizationTransform ? this.options.visualizationTransform(data) : data.map(String),
      modified: perToken.map((v) => safeDiv(v, max) * 100), type: 'text', contribution: contributionFrac,
    };
  }
}

/** A tabular input [1, C] with a name per column: attributions scaled by their L2 norm. */
export class GeneralFeature {
  constructor(readonly name: string, readonly categories: string[]) {
    if (typeof name !== 'string' || !name) throw new Error('GeneralFeature needs a name');
    if (!Array.isArray(categories) || !categories.length) throw new Error(`GeneralFeature ${name} needs its categories (column names)`);
  }

  visualize(attribution: ArrayLike<number>, data: ArrayLike<number>, contributionFrac: number): FeatureOutput {
    if (attribution.length !== this.categories.length || data.length !== this.categories.length) {
      throw new Error(`GeneralFeature ${this.name}: ${this.categories.length} categories, ${attribution.length} attributions, ${data.length} values`);
    }
    const norm = Math.hypot(...Array.from(attribution));
    return {
      name: this.name, base: this.categories.map((c, i) => `${c}: ${data[i].toFixed(2)}`),
      modified: Array.from(attribution, (v) => safeDiv(v, norm) * 100), type: 'general', contribution: contributionFrac,
    };
  }
}

/** Captum's calculate_net_contrib: each feature's attribution sum, divided by the L1 norm of those sums. */
export function netContributions(attributionsPerFeature: ArrayLike<number>[]): number[] {
  const sums = attributionsPerFeature.map((a) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]; return s; });
  const l1 = sums.reduce((t, s) => t + Math.abs(s), 0);
  return sums.map((s) => safeDiv(s, l1));
}
