import { fromArray, noGrad, softmax, tidy } from '../autograd/index.ts';
import { int, parseArgs } from './args.ts';
import { MODEL_FLAGS, checkOutputFolder, readInput, withModel, writeTensors } from './common.ts';

export const PREDICT_HELP = `glimpse predict (--image FILE | --input FILE.safetensors:KEY) [options]
  Classifies an image and prints the top classes: index, name, probability.
  --model resnet50          the pretrained ImageNet ResNet-50 (default)
  --weights FILE --arch A   a .safetensors or PyTorch .pth state_dict of resnet18|34|50|101|152
  --variant v1|v1.5         stride on the bottleneck's 1x1 conv (v1) or 3x3 (v1.5, torchvision; default)
  --mean a,b,c --std a,b,c  normalization of --weights models (default ImageNet's)
  --top K                   how many classes to print (default 5)
  --save FILE.safetensors   also write the logits under the key 'logits'`;

export async function predict(argv: string[]): Promise<void> {
  const a = parseArgs(argv, { ...MODEL_FLAGS, top: 'number', save: 'string' }, 'predict');
  const top = int(a.top, 'top', 1) ?? 5;
  if (a.save) checkOutputFolder(a.save as string, 'save');
  await withModel(a, async (ctx, model) => {
    const input = readInput(a, model);
    const [logits, probs] = await tidy(async () => {
      const x = fromArray(ctx, input.data as Float32Array, input.shape);
      const y = noGrad(() => model.net.call(x));
      return [await y.data(), await noGrad(() => softmax(y)).data()];
    });
    const [N, C] = [input.shape[0], logits.length / input.shape[0]];
    for (let n = 0; n < N; n++) {
      if (N > 1) console.log(`image ${n}:`);
      const row = probs.subarray(n * C, (n + 1) * C);
      const order = [...row.keys()].sort((i, j) => row[j] - row[i]).slice(0, Math.min(top, C));
      for (const i of order) console.log(`${String(i).padStart(4)}  ${model.classes[i].padEnd(28)} ${row[i].toFixed(4)}`);
    }
    if (a.save) writeTensors(a.save as string, { logits: { dtype: 'F32', shape: [N, C], data: logits } });
  });
}
