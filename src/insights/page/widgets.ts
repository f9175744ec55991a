// Page pieces the explorer and the web app share: typed fields for a method's arguments, and an
// image as a data URL.
import type { RgbImage } from '../../io/image.ts';
import type { ArgumentSpec, ArgumentValues } from '../methods.ts';

/** One labelled input per argument (a select for a choice, a checkbox, numbers with their range), in `box`. */
export function renderArgumentInputs(box: HTMLElement, args: ArgumentSpec[]): void {
  box.replaceChildren();
  for (const a of args) {
    const label = document.createElement('label');
    label.title = a.help;
    label.append(a.name + ' ');
    let input: HTMLInputElement | HTMLSelectElement;
    if (a.type === 'enum') {
      input = document.createElement('select');
      for (const o of a.options) input.append(new Option(o, o, o === a.default, o === a.default));
    } else {
      input = document.createElement('input');
      if (a.type === 'boolean') { input.type = 'checkbox'; input.checked = a.default; }
      else if (a.type === 'integers') { input.className = 'tuple'; input.value = a.default.join(','); input.pattern = `\\d+(,\\d+){${a.length - 1}}`; }
      else {
        input.type = 'number'; input.min = String(a.min); input.max = String(a.max); input.step = a.type === 'integer' ? '1' : 'any';
        input.value = a.default === null ? '' : String(a.default);
        if (a.default === null) input.placeholder = 'auto';
      }
    }
    input.name = a.name;
    input.dataset.kind = a.type;
    label.append(input);
    box.append(label);
  }
}

/**
 * The values of `box`'s fields, passed through `validate` (methods.ts' validator); the field an error
 * names is marked.
 */
export function checkedArguments(box: HTMLElement, validate: (values: Record<string, unknown>) => ArgumentValues): ArgumentValues {
  const values: Record<string, unknown> = {};
  for (const el of box.querySelectorAll<HTMLInputElement | HTMLSelectElement>('input, select')) {
    const kind = el.dataset.kind;
    el.classList.remove('bad');
    if (kind === 'boolean') values[el.name] = (el as HTMLInputElement).checked;
    else if (kind === 'enum') values[el.name] = el.value;
    else if (kind === 'integers') values[el.name] = el.value.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
    else values[el.name] = el.value.trim() === '' ? null : Number(el.value);
  }
  try {
    return validate(values);
  } catch (e) {
    const bad = /\.(\w+) /.exec((e as Error).message)?.[1];
    box.querySelector(`[name="${bad}"]`)?.classList.add('bad');
    throw e;
  }
}

/** An RGB image as a PNG data URL, through a canvas. */
export function toDataUrl(img: RgbImage): string {
  return toCanvas(img).toDataURL('image/png');
}

export function toCanvas(img: RgbImage): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = img.width; canvas.height = img.height;
  const g = canvas.getContext('2d')!;
  const rgba = g.createImageData(img.width, img.height);
  for (let i = 0; i < img.width * img.height; i++) rgba.data.set([img.data[i * 3], img.data[i * 3 + 1], img.data[i * 3 + 2], 255], i * 4);
  g.putImageData(rgba, 0, 0);
  return canvas;
}
