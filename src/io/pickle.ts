/**
 * A restricted unpickler for PyTorch state_dicts. Pickle can name any Python callable; a general
 * unpickler runs whatever a file says. This one knows only the few globals a state_dict needs and
 * refuses every other global by name, so loading a checkpoint can never run code.
 */

export interface StorageRef { kind: 'storage'; dtype: StorageDtype; key: string; numel: number }
export interface TensorRef { kind: 'tensor'; storage: StorageRef; offset: number; shape: number[]; stride: number[] }
export type StorageDtype = 'F32' | 'F64' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
interface Global { kind: 'global'; name: string }
type Value = null | boolean | number | bigint | string | Value[] | Map<unknown, Value> | StorageRef | TensorRef | Global | { kind: 'tuple'; items: Value[] } | typeof MARK;

const MARK = Symbol('mark');

const STORAGE_TYPES: Record<string, StorageDtype> = {
  FloatStorage: 'F32', DoubleStorage: 'F64', HalfStorage: 'F16', BFloat16Storage: 'BF16', LongStorage: 'I64',
  IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};
const ALLOWED = new Set(['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGE_TYPES).map((s) => `torch.${s}`)]);

const tuple = (items: Value[]): Value => ({ kind: 'tuple', items });
const items = (v: Value): Value[] => (v && typeof v === 'object' && 'kind' in v && v.kind === 'tuple' ? v.items : Array.isArray(v) ? v : []);

function call(fn: Global, args: Value[], what: string): Value {
  switch (fn.name) {
    case 'collections.OrderedDict':
      return new Map();
    case 'torch._utils._rebuild_tensor_v2': {
      const [storage, offset, size, stride] = args as [StorageRef, number, Value, Value];
      if (!storage || (storage as StorageRef).kind !== 'storage') throw new Error(`${what}: _rebuild_tensor_v2 without a storage`);
      return { kind: 'tensor', storage, offset: Number(offset), shape: items(size).map(Number), stride: items(stride).map(Number) };
    }
    case 'torch._utils._rebuild_parameter':
      return args[0];
  }
  throw new Error(`${what}: cannot call ${fn.name}`);
}

/** Unpickles `data.pkl`, returning the state_dict as a Map of names to tensor references. */
export function unpickleStateDict(bytes: Uint8Array, what: string): Map<string, TensorRef> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dec = new TextDecoder();
  const stack: Value[] = [];
  const memo = new Map<number, Value>();
  let p = 0;
  const need = (n: number) => { if (p + n > bytes.length) throw new Error(`${what}: the pickle is truncated`); };
  const u8 = () => (need(1), bytes[p++]);
  const u16 = () => (need(2), (p += 2), dv.getUint16(p - 2, true));
  const u32 = () => (need(4), (p += 4), dv.getUint32(p - 4, true));
  const i32 = () => (need(4), (p += 4), dv.getInt32(p - 4, true));
  const str = (n: number) => (need(n), (p += n), dec.decode(bytes.subarray(p - n, p)));
  const line = () => { const e = bytes.indexOf(10, p); if (e < 0) throw new Error(`${what}: the pickle is truncated`); const s = dec.decode(bytes.subarray(p, e)); p = e + 1; return s; };
  const popMark = (): Value[] => {
    const m = stack.lastIndexOf(MARK);
    if (m < 0) throw new Error(`${what}: corrupt pickle (no mark)`);
    const out = stack.splice(m);
    out.shift();
    return out;
  };
  const pop = (): Value => { if (!stack.length) throw new Error(`${what}: corrupt pickle (stack underflow)`); return stack.pop()!; };
  const global = (module: string, name: string): Global => {
    const full = `${module}.${name}`;
    if (!ALLOWED.has(full)) {
      throw new Error(`${what} refers to the Python global '${full}', which a PyTorch state_dict never needs; refusing to load it (a pickle can run arbitrary code)`);
    }
    return { kind: 'global', name: full };
  };
  const setItems = (dict: Value, kv: Value[]) => {
    if (!(dict instanceof Map)) throw new Error(`${what}: corrupt pickle (SETITEMS on a non-dict)`);
    for (let i = 0; i + 1 < kv.length; i += 2) dict.set(kv[i], kv[i + 1]);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: need(8); p += 8; break; // FRAME
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push(tuple([])); break; // EMPTY_TUPLE
      case 0x28: stack.push(MARK); break; // MARK
      case 0x71: memo.set(u8(), stack[stack.length - 1]); break; // BINPUT
      case 0x72: memo.set(u32(), stack[stack.length - 1]); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, stack[stack.length - 1]); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) throw new Error(`${what}: corrupt pickle (memo ${k} missing)`);
        stack.push(memo.get(k)!);
        break;
      }
      case 0x58: stack.push(str(u32())); break; // BINUNICODE
      case 0x8c: stack.push(str(u8())); break; // SHORT_BINUNICODE
      case 0x55: stack.push(str(u8())); break; // SHORT_BINSTRING
      case 0x54: stack.push(str(u32())); break; // BINSTRING
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x8a: { // LONG1
        const n = u8();
        need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[p + i]);
        if (n && bytes[p + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        p += n;
        stack.push(Number(v));
        break;
      }
      case 0x47: need(8); stack.push(dv.getFloat64(p, false)); p += 8; break; // BINFLOAT
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x74: stack.push(tuple(popMark())); break; // TUPLE
      case 0x85: stack.push(tuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(), a = pop(); stack.push(tuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(), a = pop(); stack.push(tuple([a, b, c])); break; } // TUPLE3
      case 0x63: { const m = line(); stack.push(global(m, line())); break; } // GLOBAL
      case 0x93: { const n = pop(), m = pop(); stack.push(global(String(m), String(n))); break; } // STACK_GLOBAL
      case 0x51: { // BINPERSID: ('storage', storage_type, key, location, numel)
        const [tag, type, key, , numel] = items(pop());
        const dtype = type && typeof type === 'object' && 'kind' in type && type.kind === 'global' ? STORAGE_TYPES[type.name.replace('torch.', '')] : undefined;
        if (tag !== 'storage' || !dtype) throw new Error(`${what}: unsupported persistent object in the pickle`);
        stack.push({ kind: 'storage', dtype, key: String(key), numel: Number(numel) });
        break;
      }
      case 0x52: { // REDUCE
        const args = pop(), fn = pop();
        if (!fn || typeof fn !== 'object' || !('kind' in fn) || fn.kind !== 'global') throw new Error(`${what}: corrupt pickle (REDUCE on a non-callable)`);
        stack.push(call(fn, items(args), what));
        break;
      }
      case 0x62: pop(); break; // BUILD: state for the object below (a state_dict's _metadata); not needed
      case 0x75: { const kv = popMark(); setItems(stack[stack.length - 1], kv); break; } // SETITEMS
      case 0x73: { const v = pop(), k = pop(); setItems(stack[stack.length - 1], [k, v]); break; } // SETITEM
      case 0x65: { const xs = popMark(); const l = stack[stack.length - 1]; if (Array.isArray(l)) l.push(...xs); break; } // APPENDS
      case 0x61: { const x = pop(); const l = stack[stack.length - 1]; if (Array.isArray(l)) l.push(x); break; } // APPEND
      case 0x2e: // STOP
        return stateDictOf(pop(), what);
      default:
        throw new Error(`${what}: unsupported pickle opcode 0x${op.toString(16)} at byte ${p - 1} (is this a PyTorch state_dict?)`);
    }
  }
}

const isTensor = (v: Value): v is TensorRef => !!v && typeof v === 'object' && 'kind' in v && v.kind === 'tensor';
/** A dict all of whose entries are tensors (a nested dict is an OrderedDict's _metadata, skipped). */
const isStateDict = (v: Value): boolean => v instanceof Map && v.size > 0 && [...v.values()].every((x) => isTensor(x) || x instanceof Map) && [...v.values()].some(isTensor);
/** Where training scripts put the model's weights in a checkpoint dict, in the order they are tried. */
const WRAPPER_KEYS = ['state_dict', 'model_state_dict', 'model', 'net', 'module'];

/**
 * The state_dict of a checkpoint: the dict itself, or the one under a key training scripts use
 * ({'state_dict': ..., 'epoch': ...}, {'model': ...}); DataParallel's 'module.' prefix is dropped.
 */
function stateDictOf(result: Value, what: string): Map<string, TensorRef> {
  if (!(result instanceof Map)) throw new Error(`${what} does not hold a state_dict (a dict of tensors); save one with torch.save(model.state_dict(), path)`);
  let dict: Map<unknown, Value> = result;
  if (!isStateDict(result)) {
    const key = WRAPPER_KEYS.find((k) => isStateDict(result.get(k) ?? null));
    const candidates = [...result].filter(([, v]) => isStateDict(v)).map(([k]) => `'${String(k)}'`);
    if (!key) {
      throw new Error(`${what} holds a dict of ${[...result.keys()].slice(0, 8).map((k) => `'${String(k)}'`).join(', ')}, not a state_dict` +
        (candidates.length ? `; the weights may be under ${candidates.join(' or ')}: save that entry alone with torch.save(checkpoint[key], path)` : '; save one with torch.save(model.state_dict(), path)'));
    }
    dict = result.get(key) as Map<unknown, Value>;
  }
  const out = new Map<string, TensorRef>();
  for (const [k, v] of dict) if (isTensor(v)) out.set(String(k), v);
  if ([...out.keys()].every((k) => k.startsWith('module.'))) return new Map([...out].map(([k, v]) => [k.slice('module.'.length), v]));
  return out;
}
