// glimpse: the tensor engine, the models, Captum's attribution API and its figures. Only WebGPU and
// standard JavaScript, so bundlers take it for a browser; Node's device and file loaders are in
// glimpse/node (src/node.ts).
export * from './autograd/index.ts';
export * from './attr/index.ts';
export { GpuContext, NO_ADAPTER_HELP, type GpuOptions } from './gpu/device.ts';
export { createWebGpu } from './gpu/web.ts';
export type { Kernel, KernelSource, Defines } from './gpu/kernel.ts';
export { Module, type ForwardHook } from './nn/module.ts';
export { ResNet, resnet, ARCHS, type ResNetArch, type ResNetVariant } from './nn/resnet.ts';
export { GraphModel, loadOnnx, packInputs, type LayerInfo } from './nn/graph.ts';
export { buildClassifier, IMAGENET_PREPROCESSING, type Classifier, type ModelCard, type Preprocessing } from './nn/model.ts';
export { readOnnx, type ReadOnnxOptions, type OnnxModel } from './io/onnx.ts';
export { parseSafetensors, serializeSafetensors } from './io/safetensors.ts';
export { parsePth } from './io/pth.ts';
export { stateDictFromBytes } from './io/state-dict.ts';
export type { HostTensor, StateDict } from './io/host-tensor.ts';
export {
  visualizeImageAttr, visualizeImageAttrMultiple, renderImageAttr, visualizeFeatureBars, normalizeAttr,
  VISUALIZE_METHODS, VISUALIZE_SIGNS, type VisualizeMethod, type VisualizeSign, type VisualizeOptions, type HostArray,
} from './io/visualize.ts';
export { imageToInput, preprocessImage, normalizeData, normalizedInput, resizeShorter, centerCrop, toTensorData, type RgbImage } from './io/image.ts';
export { ImageFeature, TextFeature, GeneralFeature, normalizeTransform, zeroBaseline, tokenReferenceBaseline, type Feature, type Transform } from './insights/features.ts';
export { encodeText, parseVocabulary, tokenize, TokenReferenceBase, VisualizationDataRecord, visualizeText, type Vocabulary } from './insights/text.ts';
export { tuneModel, convGeometries } from './nn/tune.ts';
