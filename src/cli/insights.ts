import { encodePng } from '../io/image-decode.ts';
import { readImageFolder } from '../io/image-folder.ts';
import { type Feature, ImageFeature, normalizeTransform, zeroBaseline } from '../insights/features.ts';
import { AttributionVisualizer, type Batch } from '../insights/visualizer.ts';
import { tableData, textData } from './insights-data.ts';
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
       glimpse insights --model M.onnx --text-file sentences.txt --vocab V.json
       glimpse insights --model M.onnx --csv FILE [--label-column NAME] [--normalize mean_std.json]
  Glimpse Insights, the attribution explorer (Captum Insights' successor), on http://HOST:PORT/:
  the examples with the model's top predictions, attributions by the method picked on the page (the
  methods that fit the input), filters by class and by correct / incorrect prediction. The page can
  also compute the attributions in the visitor's browser when it has WebGPU.
  --images DIR      .png / .jpg images; --labels FILE maps file names to class indices or names
                    ({"cat.png": 285}); without labels, examples are attributed to their top prediction
  --text-file FILE  one text per line, optionally "LABEL<TAB>text" (a class name or index); with
                    --vocab V.json (tokens in index order, "unk", "pad", "length"); baseline: all pad.
                    The page also attributes a sentence typed into it
  --csv FILE        rows of numbers under a header; --label-column NAME (default: a column named
                    target, label, class or y when there is one too many); --normalize FILE with
                    {"mean": [...], "std": [...]} per column
  --classes A,B,..  class names (default: the vocabulary's "classes", else the model's)
  --model resnet50 | --weights FILE --arch A [--variant v1|v1.5] [--mean a,b,c --std a,b,c]
  --port N          default 8080 (0: any free port)
  --host ADDR       default 127.0.0.1 (loopback only); 0.0.0.0 serves every interface
  --max-examples N  read at most N images (default 1000)`;

export async function insights(argv: string[]): Promise<void> {
  const a = parseArgs(argv, {
    ...MODEL_FLAGS, images: 'string', labels: 'string', 'text-file': 'string', vocab: 'string', csv: 'string', 'label-column': 'string',
    normalize: 'string', classes: 'string', port: 'number', host: 'string', 'max-examples': 'number',
  }, 'insights');
  if (a.image || a.input) throw new UsageError('insights takes a dataset: --images DIR, --text-file FILE or --csv FILE');
  const given = (['images', 'text-file', 'csv'] as const).filter((k) => a[k]);
  if (given.length !== 1) throw new UsageError(given.length ? `give one dataset, not --${given.join(' and --')}` : 'give --images DIR (.png / .jpg images), --text-file FILE with --vocab V.json, or --csv FILE');
  if (a.labels && !a.images) throw new UsageError('--labels goes with --images; a text file carries its labels ("LABEL<TAB>text"), a CSV its label column');
  if (a['text-file'] && !a.vocab) throw new UsageError('--text-file needs --vocab V.json (the model\'s tokens in index order, with its "unk" and "pad" indices)');
  if (a.vocab && !a['text-file']) throw new UsageError('--vocab goes with --text-file FILE');
  if ((a['label-column'] || a.normalize) && !a.csv) throw new UsageError('--label-column and --normalize go with --csv FILE');
  const classes = a.classes === undefined ? undefined : String(a.classes).split(',').map((c) => c.trim());
  if (classes?.some((c) => !c)) throw new UsageError(`--classes must be comma-separated names, got '${a.classes}'`);
  const port = int(a.port, 'port', 0) ?? 8080;
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  await withModel(a, async (ctx, model) => {
    let data: { feature: Feature; dataset: Iterable<Batch> | AsyncIterable<Batch>; classes: string[]; what: string; skipped?: string[] };
    if (a.images) {
      const p = model.card.preprocessing;
      const folder = readImageFolder(a.images as string, p, classes ?? model.classes, a.labels as string | undefined);
      const feature = new ImageFeature('Photo', { inputTransforms: [normalizeTransform(p.mean, p.std)], baselineTransforms: [zeroBaseline] });
      data = { feature, dataset: folder.batches(), classes: classes ?? model.classes, what: 'images', skipped: folder.skipped };
    } else if (a['text-file']) {
      data = { ...textData({ textFile: a['text-file'] as string, vocab: a.vocab as string, model, classes }), what: 'texts' };
    } else {
      data = { ...tableData({ csv: a.csv as string, model, labelColumn: a['label-column'] as string | undefined, normalize: a.normalize as string | undefined, classes }), what: 'rows' };
    }
    const vis = new AttributionVisualizer({
      ctx, models: [model.net], classes: data.classes, dataset: data.dataset, features: [data.feature],
      maxExamples: int(a['max-examples'], 'max-examples', 1),
      encodeImage: (img) => `data:image/png;base64,${encodePng(img).toString('base64')}`,
    });
    const examples = await vis.loadExamples().catch((e: Error) => { throw new UsageError(e.message); });
    const skipped = data.skipped ?? [];
    if (skipped.length) console.warn(`insights: skipped ${skipped.length} of ${a.images}'s entries that are not readable images: ${skipped.slice(0, 3).join('; ')}${skipped.length > 3 ? '; ...' : ''}`);
    const host = (a.host as string | undefined) ?? '127.0.0.1';
    const server = await vis.serve({ port, host });
    console.log(`Glimpse Insights: ${reachableUrls(server.url, host).join(' , ')} (${examples.length} ${data.what}, ${model.card.arch === 'onnx' ? model.card.source : model.card.arch}); Ctrl-C stops`);
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
