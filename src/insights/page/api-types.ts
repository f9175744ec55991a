// The explorer's JSON answers as the page reads them (src/insights/visualizer.ts makes them).
import type { FeatureKind, FeatureOutput } from '../features.ts';
import type { ArgumentSpec, ArgumentValues } from '../methods.ts';
import type { Prediction } from '../present.ts';

export interface Init {
  classes: string[];
  models: { index: number; name: string; kind: 'resnet' | 'onnx'; browserCompute: boolean }[];
  features: { name: string; type: FeatureKind; categories?: string[] }[];
  methods: { name: string; label: string; arguments: ArgumentSpec[] }[];
  examples: number;
  inputShapes: number[][];
  acceptsInput: boolean;
}
/** One feature's share of an attribution: an image's pictures, or a text's or row's scaled values. */
export interface PartAttribution { name: string; type: FeatureKind; heatMap?: string; blended?: string; feature?: FeatureOutput; note?: string }
/** One feature of an example as shown: an image, a text's tokens, a row's values. */
export interface InputPart { name: string; type: FeatureKind; original?: string; tokens?: string[]; values?: { name: string; value: number }[] }
export interface Attribution {
  method: string; arguments: ArgumentValues; seconds: number; computedOn: string;
  contributions: { name: string; value: number; sum: number }[];
  features: PartAttribution[];
  /** A path method's convergence delta (Captum's), else null. */
  delta: number | null;
  shape?: number[]; data?: string;
}
export interface Example {
  index: number; model: number; label: { index: number; name: string } | null; predictions: Prediction[];
  target: { index: number; name: string }; attribution: Attribution | null;
  inputs: InputPart[];
  /** A text or row typed into the page (index -1): what re-attribution sends again. */
  input?: unknown;
}
