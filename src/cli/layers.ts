import { tidy } from '../autograd/index.ts';
import { GraphModel } from '../nn/graph.ts';
import { UsageError, parseArgs } from './args.ts';
import { MODEL_FLAGS, withModel } from './common.ts';

export const LAYERS_HELP = `glimpse layers (--model FILE.onnx | --model resnet50 | --weights FILE --arch A) [--size N] [--shape N,C,H,W]
  Lists the model's layers: the names --layer takes (module paths as PyTorch writes them), with
  their op type and output shape for one input of the model's size (--size for an image model,
  --shape for any input). ONNX layers also answer to their node names and output names.`;

export async function layers(argv: string[]): Promise<void> {
  const a = parseArgs(argv, { ...MODEL_FLAGS, shape: 'numbers' }, 'layers');
  if (a.image || a.input) throw new UsageError('layers needs no input: it runs zeros of the model\'s input shape (--size or --shape)');
  await withModel(a, async (_ctx, model) => {
    const net = model.net;
    const p = model.card.preprocessing;
    const given = a.shape as number[] | undefined;
    if (given && given.some((d) => !Number.isInteger(d) || d < 1)) throw new UsageError('--shape takes positive integers, e.g. 1,3,224,224');
    if (!(net instanceof GraphModel)) {
      for (const [name, m] of net.namedModules()) if (name) console.log(`${name.padEnd(32)} ${m.constructor.name}`);
      return;
    }
    const dims = net.onnx.inputs[0].shape ?? [];
    const packed = net.inputShapes && [1, net.inputShapes.reduce((t, d) => t + d.reduce((a, b) => a * b, 1), 0)];
    const shape = given ?? packed ?? (dims.length === 4 ? [1, 3, p.crop, p.crop] : dims.map((d, i) => (i === 0 ? 1 : typeof d === 'number' ? d : NaN)));
    if (shape.some((d) => !Number.isFinite(d))) throw new UsageError(`${net.source}'s input [${dims.join(', ')}] has sizes it does not fix: give --shape`);
    const rows = tidy(() => net.layers(shape));
    const w = Math.max(...rows.map((r) => r.name.length), 4);
    console.log(`${'name'.padEnd(w)}  ${'op'.padEnd(18)} output for input [${shape.join(', ')}]`);
    for (const r of rows) console.log(`${r.name.padEnd(w)}  ${r.opType.padEnd(18)} [${r.shape.join(', ')}]`);
  });
}
