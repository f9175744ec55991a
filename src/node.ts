// glimpse/node: what only Node can do. A device through Dawn (the optional peer `webgpu`), models
// and images from files, the pretrained ResNet-50 fetched into a cache on first use.
export { createNodeGpu, nodeKernelSource } from './io/node-gpu.ts';
export { loadClassifier, loadOnnxClassifier, imagenetClasses, imageToInput, type ModelSpec } from './io/models.ts';
export { readImage, decodeImage, encodePng } from './io/image-decode.ts';
export { readStateDict, writeStateDict } from './io/weights.ts';
export { ensureResNet50, resnet50Path, cacheDir, RESNET50_CARD } from './io/pretrained.ts';
export { loadTuning, saveTuning, tuningCachePath } from './io/tuning-cache.ts';
// The explorer: its computations are the engine's, its server Node's (features come from 'glimpse').
export { AttributionVisualizer, type Batch, type AttributionVisualizerOptions } from './insights/visualizer.ts';
export { startServer, type ServerOptions } from './insights/server.ts';
