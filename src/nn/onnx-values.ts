/** What ONNX ops read and return: GPU tensors and CPU constants, and the helpers every op uses to take its inputs and attributes. */
import { Tensor, sizeOf } from '../autograd/tensor.ts';
import type { GpuContext } from '../gpu/device.ts';
import type { OnnxArray, OnnxAttribute, OnnxNode } from '../io/onnx.ts';

export type Value = Tensor | OnnxArray;
export const isHost = (v: Value | null | undefined): v is OnnxArray => !!v && !(v instanceof Tensor);

export interface OpEnv {
  ctx: GpuContext;
  opset: number;
  /** A float constant as a GPU tensor, uploaded once. */
  upload(v: OnnxArray): Tensor;
  /** A constant an op derives (BatchNorm's scale, a pooling kernel), made and uploaded once per node and key. */
  derived(node: OnnxNode, key: string, make: () => OnnxArray): Tensor;
}

export type GpuOp = (inputs: (Value | null)[], node: OnnxNode, env: OpEnv) => Tensor[];
export type HostOp = (inputs: (OnnxArray | null)[], node: OnnxNode) => OnnxArray[];

// ---- attributes and constants ----

export function attr<T extends OnnxAttribute>(node: OnnxNode, name: string, fallback: T): T {
  return (node.attributes.has(name) ? node.attributes.get(name) : fallback) as T;
}
export const ints = (a: OnnxArray | null): number[] => (a ? Array.from(a.data as ArrayLike<number | bigint>, Number) : []);
export const int64 = (values: number[], dims = [values.length]): OnnxArray => ({ dtype: 'int64', dims, data: BigInt64Array.from(values, (v) => BigInt(v)) });
export const scalarOf = (a: OnnxArray | null, fallback: number): number => (a && a.data.length ? Number(a.data[0]) : fallback);
export const filled = (dims: number[], v: number): OnnxArray => ({ dtype: 'float32', dims, data: new Float32Array(sizeOf(dims)).fill(v) });

export function tensorIn(v: Value | null, node: OnnxNode, env: OpEnv, i: number): Tensor {
  if (!v) throw new Error(`${node.opType} node '${node.name}': input ${i} is missing`);
  if (v instanceof Tensor) return v;
  if (v.dtype !== 'float32') throw new Error(`${node.opType} node '${node.name}': input ${i} is an int64 tensor where a float one is needed`);
  return env.upload(v);
}
export function hostIn(v: Value | null, node: OnnxNode, i: number): OnnxArray | null {
  if (v === null) return null;
  if (v instanceof Tensor) throw new Error(`${node.opType} node '${node.name}': input ${i} must be a constant (an initializer or folded shape), but it is computed on the GPU`);
  return v;
}

