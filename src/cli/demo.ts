import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Tensor, fromArray, noGrad, softmax, tidy } from '../autograd/index.ts';
import * as A from '../attr/index.ts';
import { readImage, encodePng } from '../io/image-decode.ts';
import { normalizedInput, preprocessImage } from '../io/image.ts';
import { ROOT } from '../io/models.ts';
import { type HostArray, visualizeImageAttr, visualizeImageAttrMultiple } from '../io/visualize.ts';
import { parseArgs } from './args.ts';
import { MODEL_FLAGS, withModel } from './common.ts';
import { progressBar } from './progress.ts';

export const DEMO_HELP = `glimpse demo [--image FILE] [--out DIR] [--quick] [model options]
  Reproduces Captum's ResNet tutorial on the pretrained ResNet-50 and the project's cat photo:
  top-5 prediction; Integrated Gradients (200 steps); Occlusion (window 3x15x15, stride 3x8x8,
  baseline 0); Grad-CAM on layer3.1.conv2, raw and upsampled. Writes the figures and index.html into
  DIR (default out/demo). --quick: 20 IG steps and an occlusion stride of 3x14x14.`;

interface Step { title: string; caption: string; figures: string[]; params: string; seconds: number }

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export async function demo(argv: string[]): Promise<void> {
  const a = parseArgs(argv, { ...MODEL_FLAGS, out: 'string', quick: 'boolean' }, 'demo');
  const quick = !!a.quick;
  const outDir = resolve((a.out as string | undefined) ?? join('out', 'demo')); // beside the caller, not inside an installed package
  const imagePath = (a.image as string | undefined) ?? join(ROOT, 'assets', 'chelsea.png');
  if (a.input) throw new Error('demo takes --image, not --input');
  mkdirSync(outDir, { recursive: true });
  await withModel({ ...a, image: undefined, input: undefined }, async (ctx, model) => {
    const p = model.card.preprocessing;
    const img = readImage(imagePath);
    const shown = preprocessImage(img, p); // the tutorial's transformed_img: resized and cropped, in [0, 1]
    const original: HostArray = { data: shown, shape: [3, p.crop, p.crop] };
    const steps: Step[] = [];
    const save = (name: string, fig: ReturnType<typeof visualizeImageAttr>) => {
      writeFileSync(join(outDir, name), encodePng(fig));
      return name;
    };
    const host = async (t: Tensor): Promise<HostArray> => ({ data: await t.data(), shape: [...t.shape] });
    await tidy(async () => {
      const x = fromArray(ctx, normalizedInput(shown, p), [1, 3, p.crop, p.crop]);

      let t0 = performance.now();
      const probs = await noGrad(() => softmax(model.net.call(x))).data();
      const top = [...probs.keys()].sort((i, j) => probs[j] - probs[i]).slice(0, 5);
      const target = top[0];
      const predSeconds = (performance.now() - t0) / 1000;
      console.log(`1/4 prediction (${predSeconds.toFixed(1)} s):`);
      for (const i of top) console.log(`  ${String(i).padStart(4)}  ${model.classes[i].padEnd(24)} ${probs[i].toFixed(4)}`);

      const nSteps = quick ? 20 : 200;
      t0 = performance.now();
      let bar = progressBar(`2/4 Integrated Gradients, ${nSteps} steps`);
      const ig = await new A.IntegratedGradients(model.net).attribute(x, { target, nSteps, onProgress: bar.update });
      bar.done();
      const igFig = save('integrated_gradients.png', visualizeImageAttrMultiple(await host(ig), original, ['original_image', 'heat_map'], ['all', 'positive'],
        { cmap: 'custom blue', showColorbar: true, titles: ['Original', 'Integrated Gradients (+)'] }));
      steps.push({ title: 'Integrated Gradients', caption: 'Positive attributions of Integrated Gradients (baseline 0), in the tutorial\'s white-to-blue colormap.',
        figures: [igFig], params: `n_steps=${nSteps}, method=gausslegendre, baselines=0, target=${target}`, seconds: (performance.now() - t0) / 1000 });
      console.log(`2/4 Integrated Gradients: ${steps[0].seconds.toFixed(1)} s`);

      const strides = quick ? [3, 14, 14] : [3, 8, 8]; // quick: a coarser stride that still covers every pixel
      t0 = performance.now();
      bar = progressBar(`3/4 Occlusion, stride ${strides.join('x')}`);
      const occ = await new A.Occlusion(model.net).attribute(x, { target, slidingWindowShapes: [3, 15, 15], strides, baselines: 0, onProgress: bar.update });
      bar.done();
      const occFig = save('occlusion.png', visualizeImageAttrMultiple(await host(occ), original,
        ['original_image', 'heat_map', 'heat_map', 'masked_image'], ['all', 'positive', 'negative', 'positive'],
        { showColorbar: true, titles: ['Original', 'Positive Attribution', 'Negative Attribution', 'Masked'] }));
      steps.push({ title: 'Occlusion', caption: 'How much the score drops when a 15x15 patch is replaced by 0: positive (green) where the patch mattered for the class.',
        figures: [occFig], params: `sliding_window_shapes=(3,15,15), strides=(${strides.join(',')}), baselines=0, target=${target}`, seconds: (performance.now() - t0) / 1000 });
      console.log(`3/4 Occlusion: ${steps[1].seconds.toFixed(1)} s`);

      t0 = performance.now();
      const cam = await new A.LayerGradCam(model.net, 'layer3.1.conv2').attribute(x, { target });
      const rawFig = save('gradcam_raw.png', visualizeImageAttr(await host(cam), null, { sign: 'all', title: 'Layer 3 Block 1 Conv 2', showColorbar: true }));
      const up = A.LayerAttribution.interpolate(cam, [p.crop, p.crop]);
      const camFig = save('gradcam.png', visualizeImageAttrMultiple(await host(up), original, ['original_image', 'blended_heat_map', 'masked_image'], ['all', 'positive', 'positive'],
        { showColorbar: true, titles: ['Original', 'Positive Attribution', 'Masked'] }));
      steps.push({ title: 'Grad-CAM', caption: `Grad-CAM on layer3.1.conv2: the ${cam.shape[2]}x${cam.shape[3]} map, then upsampled (nearest) over the image.`,
        figures: [rawFig, camFig], params: `layer=layer3.1.conv2, interpolate=(${p.crop},${p.crop}) nearest, target=${target}`, seconds: (performance.now() - t0) / 1000 });
      console.log(`4/4 Grad-CAM: ${steps[2].seconds.toFixed(1)} s`);

      const rows = top.map((i) => `<tr><td>${i}</td><td>${escapeHtml(model.classes[i])}</td><td>${probs[i].toFixed(4)}</td></tr>`).join('');
      const html = `<!doctype html><html><head><meta charset="utf-8"><title>Glimpse demo</title>
<style>body{font-family:sans-serif;max-width:1300px;margin:2em auto;color:#222}img{max-width:100%;border:1px solid #ddd}td,th{padding:2px 12px;text-align:left}code{background:#f4f4f4;padding:1px 4px}</style></head><body>
<h1>Glimpse: Captum's ResNet tutorial on the GPU</h1>
<p>Model: ${escapeHtml(model.card.source ?? model.card.arch)} on <code>${escapeHtml(ctx.adapterDescription)}</code>. Image: <code>${escapeHtml(imagePath)}</code>${quick ? ' (quick settings)' : ''}.</p>
<h2>1. Prediction (${predSeconds.toFixed(1)} s)</h2><table><tr><th>class</th><th>name</th><th>probability</th></tr>${rows}</table>
${steps.map((s, k) => `<h2>${k + 2}. ${escapeHtml(s.title)} (${s.seconds.toFixed(1)} s)</h2><p>${escapeHtml(s.caption)}</p><p><code>${escapeHtml(s.params)}</code></p>${s.figures.map((f) => `<p><img src="${f}" alt="${escapeHtml(s.title)}"></p>`).join('')}`).join('\n')}
</body></html>\n`;
      writeFileSync(join(outDir, 'index.html'), html);
    });
    console.log(`wrote ${join(outDir, 'index.html')} and the figures beside it`);
  });
}
