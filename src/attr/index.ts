export { IntegratedGradients, type IntegratedGradientsOptions, type Baseline } from './integrated-gradients.ts';
export { Saliency, InputXGradient, GuidedBackprop, Deconvolution } from './gradient.ts';
export { Occlusion, FeatureAblation, type OcclusionOptions, type FeatureAblationOptions } from './occlusion.ts';
export { LayerGradCam, LayerActivation, LayerGradientXActivation, LayerConductance, LayerIntegratedGradients, GuidedGradCam, LayerAttribution, type LayerRef } from './layer.ts';
export { approximationParameters, legendreGauss, INTEGRATION_METHODS, type IntegrationMethod } from './approximation.ts';
export type { ForwardFunc, Target, ProgressCallback } from './common.ts';
export { NoiseTunnel, GradientShap, type NoiseTunnelOptions, type NoiseTunnelType, type GradientShapOptions } from './noise.ts';
export { infidelity, sensitivityMax, infidelityPerturbFuncDecorator, type InfidelityPerturbFunc, type InfidelityOptions, type ExplanationFunc, type SensitivityMaxOptions } from './metrics.ts';
export { deletion, insertion, curveAuc, riseBlur, riseBlurKernel, type CausalMetricOptions, type CausalMetricResult } from './causal-metrics.ts';
