import { record } from '../grad.ts';
import { Tensor, sizeOf } from '../tensor.ts';
import { stridedGather, stridesOf } from './layout.ts';
import { sumAxisRaw } from './reduce.ts';
import { fill } from './elementwise.ts';
import { grid } from './launch.ts';

/** Expands size-1 dimensions to `shape` (same rank), times alpha. Takes no gradient: used by backward rules. */
export function broadcastTo(x: Tensor, shape: readonly number[], alpha = 1): Tensor {
  if (shape.length !== x.rank || x.shape.some((d, i) => d !== 1 && d !== shape[i])) {
    throw new Error(`cannot broadcast [${x.shape.join(', ')}] to [${shape.join(', ')}]`);
  }
  const st = stridesOf(x.shape).map((s, i) => (x.shape[i] === 1 ? 0 : s));
  return stridedGather(x, shape, st, alpha);
}

/** Concatenates along dimension 0 (the batch), as torch.cat(tensors, 0). */
export function concat(tensors: Tensor[]): Tensor {
  if (tensors.length === 0) throw new Error('concat: no tensors');
  const rest = tensors[0].shape.slice(1);
  for (const t of tensors) {
    if (t.rank !== rest.length + 1 || t.shape.slice(1).some((d, i) => d !== rest[i])) {
      throw new Error(`concat: shapes [${tensors[0].shape.join(', ')}] and [${t.shape.join(', ')}] differ beyond dimension 0`);
    }
  }
  const ctx = tensors[0].ctx;
  const out = new Tensor(ctx, [tensors.reduce((n, t) => n + t.shape[0], 0), ...rest]);
  let offset = 0;
  for (const t of tensors) {
    if (t.size) ctx.copy(t.buffer, 0, out.buffer, offset * 4, t.size * 4);
    offset += t.size;
  }
  return record(out, 'concat', tensors, (g, needs) => {
    let start = 0;
    return tensors.map((t, i) => {
      const r = needs[i] ? sliceBatchRaw(g, start, start + t.shape[0]) : null;
      start += t.shape[0];
      return r;
    });
  });
}

function sliceBatchRaw(x: Tensor, start: number, end: number): Tensor {
  const row = sizeOf(x.shape.slice(1));
  const out = new Tensor(x.ctx, [end - start, ...x.shape.slice(1)]);
  if (out.size) x.ctx.copy(x.buffer, start * row * 4, out.buffer, 0, out.size * 4);
  return out;
}

/** Rows start..end-1 of dimension 0, as x[start:end]. */
export function sliceBatch(x: Tensor, start: number, end: number): Tensor {
  if (!(0 <= start && start <= end && end <= x.shape[0])) throw new Error(`slice [${start}, ${end}) out of range for batch ${x.shape[0]}`);
  const out = sliceBatchRaw(x, start, end);
  return record(out, 'slice', [x], (g) => {
    const full = fill(x.ctx, x.shape, 0);
    const row = sizeOf(x.shape.slice(1));
    if (g.size) x.ctx.copy(g.buffer, 0, full.buffer, start * row * 4, g.size * 4);
    return [full];
  });
}

/** Repeats the whole tensor `times` times along dimension 0, as x.repeat(times, 1, ...). */
export function repeatBatch(x: Tensor, times: number): Tensor {
  const out = new Tensor(x.ctx, [x.shape[0] * times, ...x.shape.slice(1)]);
  for (let r = 0; r < times; r++) if (x.size) x.ctx.copy(x.buffer, 0, out.buffer, r * x.size * 4, x.size * 4);
  return record(out, 'repeat', [x], (g) => [sumAxisRaw(g, 1, times, x.size, 1, x.shape)]);
}

/** Rows of `table` [count, ...] at the float indices `ids` (an embedding lookup): [...ids, ...]. No gradient to either. */
export function gatherRows(table: Tensor, ids: Tensor): Tensor {
  const width = table.size / table.shape[0];
  const out = new Tensor(table.ctx, [...ids.shape, ...table.shape.slice(1)]);
  table.ctx.dispatch({ name: 'gather_rows', file: 'gather', inputs: 2, outputs: 1 },
    { inputs: [table.buffer, ids.buffer], outputs: [out.buffer], ints: [ids.size, width, table.shape[0]], workgroups: grid(table.ctx, out.size) });
  return out;
}
