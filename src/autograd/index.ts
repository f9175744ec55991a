export { Tensor, tidy, keep, sizeOf } from './tensor.ts';
export { grad, backward, noGrad, isGradEnabled, record } from './grad.ts';
export * from './ops/index.ts';
