/**
 * Reads an ONNX model (the protobuf that torch.onnx.export writes) into plain objects: nodes with
 * their attributes, initializers and Constant values as host arrays, the graph's inputs and outputs.
 * The protobuf is decoded by onnx-proto (ONNX's schema, generated for protobufjs). No Node built-ins:
 * tensors stored as external data (models over 2 GB) come through `externalData`.
 */
import onnxProto from 'onnx-proto';
import { halfToFloat } from './host-tensor.ts';

const { onnx } = onnxProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;

/** A tensor on the CPU: float values as float32, integer ones as int64 (shapes, token ids, axes). */
export type OnnxArray = { dtype: 'float32'; dims: number[]; data: Float32Array } | { dtype: 'int64'; dims: number[]; data: BigInt64Array };
export type OnnxAttribute = number | number[] | string | string[] | OnnxArray;

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[]; // '' for an omitted optional input
  outputs: string[];
  attributes: Map<string, OnnxAttribute>;
}

export interface OnnxValueInfo {
  name: string;
  /** Sizes, with symbolic ones ('batch') as strings and unknown ones as null. */
  shape: (number | string | null)[] | null;
  elemType: number;
}

export interface OnnxModel {
  opset: number;
  producer: string;
  nodes: OnnxNode[];
  initializers: Map<string, OnnxArray>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

export const SUPPORTED_OPSETS = [11, 17] as const;

/** ONNX TensorProto.DataType codes. */
const DT = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11 } as const;
const DT_NAMES: Record<number, string> = { 1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16' };

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(String(v)));

export interface ReadOnnxOptions {
  /** The bytes of an external-data file named in the model (its `location`), for models over 2 GB. */
  externalData?: (location: string) => Uint8Array;
  what?: string;
}

export function readOnnx(bytes: Uint8Array, opts: ReadOnnxOptions = {}): OnnxModel {
  const what = opts.what ?? 'the ONNX file';
  let m: InstanceType<typeof onnx.ModelProto>;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new Error(`${what} is not a readable ONNX model (truncated or corrupt): ${(e as Error).message}`);
  }
  const g = m.graph;
  if (!g || !g.node?.length) throw new Error(`${what} holds no graph: not an ONNX model`);
  const opsetEntry = (m.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  const opset = opsetEntry ? num(opsetEntry.version) : 0;
  if (opset < SUPPORTED_OPSETS[0] || opset > SUPPORTED_OPSETS[1]) {
    throw new Error(`${what} uses ONNX opset ${opset}; Glimpse reads opsets ${SUPPORTED_OPSETS[0]} to ${SUPPORTED_OPSETS[1]} (export with torch.onnx.export(..., opset_version=13))`);
  }
  const tensor = (t: TensorProto, where: string) => readTensor(t, where, what, opts.externalData);
  const initializers = new Map<string, OnnxArray>();
  for (const t of g.initializer ?? []) initializers.set(t.name ?? '', tensor(t, `initializer '${t.name}'`));
  const nodes: OnnxNode[] = (g.node ?? []).map((n, i) => {
    const name = n.name || `${n.opType}_${i}`;
    const attributes = new Map<string, OnnxAttribute>();
    for (const a of n.attribute ?? []) attributes.set(a.name ?? '', readAttribute(a, `${name}.${a.name}`, tensor));
    return { name, opType: n.opType ?? '', domain: n.domain ?? '', inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attributes };
  });
  const info = (v: onnxProto.onnx.IValueInfoProto): OnnxValueInfo => {
    const tt = v.type?.tensorType;
    const shape = tt?.shape ? (tt.shape.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue !== null && d.dimValue !== undefined && num(d.dimValue) > 0 ? num(d.dimValue) : null)) : null;
    return { name: v.name ?? '', shape, elemType: tt?.elemType ?? 0 };
  };
  return {
    opset, producer: `${m.producerName ?? ''} ${m.producerVersion ?? ''}`.trim(), nodes, initializers,
    inputs: (g.input ?? []).filter((v) => !initializers.has(v.name ?? '')).map(info),
    outputs: (g.output ?? []).map(info),
  };
}

function readAttribute(a: AttributeProto, where: string, tensor: (t: TensorProto, where: string) => OnnxArray): OnnxAttribute {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case T.FLOAT: return a.f ?? 0;
    case T.INT: return num(a.i ?? 0);
    case T.STRING: return new TextDecoder().decode(a.s ?? new Uint8Array());
    case T.TENSOR: return tensor(a.t!, where);
    case T.FLOATS: return [...(a.floats ?? [])];
    case T.INTS: return (a.ints ?? []).map(num);
    case T.STRINGS: return (a.strings ?? []).map((s) => new TextDecoder().decode(s));
    default: throw new Error(`attribute ${where} has type ${a.type}, which Glimpse does not read (graphs and sparse tensors are not supported)`);
  }
}

function readTensor(t: TensorProto, where: string, what: string, externalData?: (location: string) => Uint8Array): OnnxArray {
  const dims = (t.dims ?? []).map(num);
  const count = dims.reduce((a, b) => a * b, 1);
  const type = t.dataType ?? 0;
  let raw: Uint8Array | null = t.rawData && t.rawData.length ? t.rawData : null;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const kv = new Map((t.externalData ?? []).map((e) => [e.key, e.value]));
    const location = kv.get('location');
    if (!location) throw new Error(`${what}: ${where} is stored externally without a location`);
    if (!externalData) throw new Error(`${what}: ${where} is stored in the external file '${location}'; give the model's folder so it can be read`);
    const file = externalData(location);
    const offset = Number(kv.get('offset') ?? 0), length = kv.has('length') ? Number(kv.get('length')) : file.length - offset;
    if (offset + length > file.length) throw new Error(`${what}: ${where} reads ${length} bytes at ${offset} of '${location}', which holds ${file.length}: truncated`);
    raw = file.subarray(offset, offset + length);
  }
  const fromRaw = <A>(width: number, make: (b: ArrayBuffer) => A): A => {
    if (raw!.length !== count * width) throw new Error(`${what}: ${where} holds ${raw!.length} bytes, but [${dims.join(', ')}] ${DT_NAMES[type]} needs ${count * width}: the file is corrupt`);
    return make(raw!.slice().buffer);
  };
  const floats = (data: Float32Array): OnnxArray => ({ dtype: 'float32', dims, data });
  const ints = (data: BigInt64Array): OnnxArray => ({ dtype: 'int64', dims, data });
  const check = (n: number) => { if (n !== count) throw new Error(`${what}: ${where} holds ${n} values for shape [${dims.join(', ')}]: the file is corrupt`); };
  switch (type) {
    case DT.FLOAT:
      if (raw) return floats(fromRaw(4, (b) => new Float32Array(b)));
      check(t.floatData?.length ?? 0);
      return floats(Float32Array.from(t.floatData ?? []));
    case DT.DOUBLE:
      if (raw) return floats(Float32Array.from(fromRaw(8, (b) => new Float64Array(b))));
      check(t.doubleData?.length ?? 0);
      return floats(Float32Array.from(t.doubleData ?? []));
    case DT.FLOAT16:
      if (raw) return floats(halfToFloat(fromRaw(2, (b) => new Uint16Array(b))));
      check(t.int32Data?.length ?? 0); // float16 bits travel in int32_data
      return floats(halfToFloat(Uint16Array.from(t.int32Data ?? [])));
    case DT.INT64:
      if (raw) return ints(fromRaw(8, (b) => new BigInt64Array(b)));
      check(t.int64Data?.length ?? 0);
      return ints(BigInt64Array.from((t.int64Data ?? []).map((v) => BigInt(String(v)))));
    case DT.INT32: case DT.INT8: case DT.UINT8: case DT.BOOL: {
      if (raw) {
        const width = type === DT.INT32 ? 4 : 1;
        const a = fromRaw(width, (b) => (type === DT.INT32 ? new Int32Array(b) : type === DT.INT8 ? new Int8Array(b) : new Uint8Array(b)));
        return ints(BigInt64Array.from(a, (v) => BigInt(v)));
      }
      check(t.int32Data?.length ?? 0);
      return ints(BigInt64Array.from(t.int32Data ?? [], (v) => BigInt(v)));
    }
    default:
      throw new Error(`${what}: ${where} is ${DT_NAMES[type] ?? `of data type ${type}`}; Glimpse reads float32, float16, float64 and integer tensors`);
  }
}
