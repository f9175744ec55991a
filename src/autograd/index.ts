export { Tensor, tidy, keep, unkeep, sizeOf } from './tensor.ts';
export { grad, backward, noGrad, isGradEnabled, record } from './grad.ts';
export * from './ops/index.ts';
