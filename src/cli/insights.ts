import { encodePng } from '../io/image-decode.ts';
import { readImageFolder } from '../io/image-folder.ts';
import { AttributionVisualizer, ImageFeature, normalizeTransform, zeroBaseline } from '../insights/visualizer.ts';
import { UsageError, int, parseArgs } from './args.ts';
import { MODEL_FLAGS, withModel } from './common.ts';
import { networkInterfaces } from 'node:os';
import { isLoopback } from '../insights/server.ts';

/** A server bound to every interface is reached by the machine's own addresses, not 0.0.0.0. */
function reachableUrls(url: string, host: string): string[] {
  if (host !== '0.0.0.0' && host !== '::') return [url];
  const port = new URL(url).port;
  const addrs = Object.values(networkInterfaces()).flat().filter((i) => i && i.family === 'IPv4').map((i) => i!.address);
  return (addrs.length ? addrs : ['127.0.0.1']).map((a) => `http://${a}:${port}/`);
}

export const INSIGHTS_HELP = `glimpse insights --images DIR [--labels labels.json] [model options] [--port 8080] [--host 127.0.0.1]
  Glimpse Insights, the attribution explorer (Captum Insights' successor), on http://HOST:PORT/:
  the images of DIR (.png, .jpg) with the model's top predictions, attributions by the method picked
  on the page, filters by class and by correct / incorrect prediction. The page can also compute the
  attributions in the visitor's browser when it has WebGPU.
  --labels FILE     JSON mapping file names to class indices or names ({"cat.png": 285}); without it,
                    examples show predictions only and are attributed to their top prediction
  --model resnet50 | --weights FILE --arch A [--variant v1|v1.5] [--mean a,b,c --std a,b,c]
  --port N          default 8080 (0: any free port)
  --host ADDR       default 127.0.0.1 (loopback only); 0.0.0.0 serves every interface
  --max-examples N  read at most N images (default 1000)`;

export async function insights(argv: string[]): Promise<void> {
  const a = parseArgs(argv, { ...MODEL_FLAGS, images: 'string', labels: 'string', port: 'number', host: 'string', 'max-examples': 'number' }, 'insights');
  if (a.image || a.input) throw new UsageError('insights takes a folder: --images DIR');
  if (!a.images) throw new UsageError('give --images DIR (a folder of .png / .jpg images)');
  const port = int(a.port, 'port', 0) ?? 8080;
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  await withModel(a, async (ctx, model) => {
    const p = model.card.preprocessing;
    const folder = readImageFolder(a.images as string, p, model.classes, a.labels as string | undefined);
    const vis = new AttributionVisualizer({
      ctx, models: [model.net], classes: model.classes, dataset: folder.batches(),
      features: [new ImageFeature('Photo', { inputTransforms: [normalizeTransform(p.mean, p.std)], baselineTransforms: [zeroBaseline] })],
      maxExamples: int(a['max-examples'], 'max-examples', 1),
      encodeImage: (img) => `data:image/png;base64,${encodePng(img).toString('base64')}`,
    });
    const examples = await vis.loadExamples();
    if (folder.skipped.length) console.warn(`insights: skipped ${folder.skipped.length} of ${a.images}'s entries that are not readable images: ${folder.skipped.slice(0, 3).join('; ')}${folder.skipped.length > 3 ? '; ...' : ''}`);
    const host = (a.host as string | undefined) ?? '127.0.0.1';
    const server = await vis.serve({ port, host });
    console.log(`Glimpse Insights: ${reachableUrls(server.url, host).join(' , ')} (${examples.length} images, ${model.card.arch === 'onnx' ? model.card.source : model.card.arch}); Ctrl-C stops`);
    if (!isLoopback(host)) console.warn(`insights: serving on ${host}, beyond this machine, with no authentication: anyone who can reach it sees the images and the model`);
    // A second signal (a terminal's Ctrl-C reaches this process and the launcher in bin/glimpse.js,
    // which forwards it) must not cut the shutdown short: the handlers stay.
    await new Promise<void>((resolve) => {
      process.on('SIGINT', () => resolve());
      process.on('SIGTERM', () => resolve());
    });
    await server.close();
  });
}
