import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Preprocessing } from '../nn/model.ts';
import { readImage } from './image-decode.ts';
import { preprocessImage } from './image.ts';

const IMAGE = /\.(png|jpe?g)$/i;

export interface ImageFolder {
  files: string[];
  /** Class index per file, null where the labels file says nothing. */
  labels: (number | null)[];
  /** Entries skipped, each 'name: why' (a folder named like an image, a file that does not decode); filled as batches are read. */
  skipped: string[];
  /** Batches of images resized and cropped as the model's preprocessing says, in [0, 1] (not normalized). */
  batches(size?: number): Generator<{ inputs: { data: Float32Array; shape: number[] }; labels: (number | null)[] }>;
}

/**
 * The PNG and JPEG files of a folder (sorted by name), with labels from a JSON file mapping file names
 * to class indices or class names. A label for a file that is not there, or a class that does not
 * exist, is an error: a typo should not silently drop an example's label.
 */
export function readImageFolder(dir: string, p: Pick<Preprocessing, 'resize' | 'crop'>, classes: string[], labelsFile?: string): ImageFolder {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`--images ${dir} is not a folder`);
  const skipped: string[] = [];
  const files = readdirSync(dir).filter((f) => IMAGE.test(f)).sort().filter((f) => {
    let file = false;
    try { file = statSync(join(dir, f)).isFile(); } catch { /* a dangling link: skipped below */ }
    if (!file) skipped.push(`${f}: not a file`);
    return file;
  });
  if (!files.length) throw new Error(`${dir} holds no .png or .jpg images${skipped.length ? ` (skipped: ${skipped.join('; ')})` : ''}`);
  const labels: (number | null)[] = files.map(() => null);
  if (labelsFile) {
    let map: Record<string, unknown>;
    try {
      map = JSON.parse(readFileSync(labelsFile, 'utf8'));
    } catch (e) {
      throw new Error(`cannot read the labels file ${labelsFile}: ${(e as Error).message}`);
    }
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new Error(`${labelsFile} must be a JSON object mapping file names to class indices`);
    for (const [name, v] of Object.entries(map)) {
      const i = files.indexOf(basename(name));
      if (i < 0) throw new Error(`${labelsFile} labels '${name}', which is not an image in ${dir}`);
      const cls = typeof v === 'string' ? classes.indexOf(v) : v;
      if (typeof cls !== 'number' || !Number.isInteger(cls) || cls < 0 || cls >= classes.length) {
        throw new Error(`${labelsFile}: '${name}' has label ${JSON.stringify(v)}, not a class index 0..${classes.length - 1} or a class name`);
      }
      labels[i] = cls;
    }
  }
  return {
    files, labels, skipped,
    *batches(size = 8) {
      const per = 3 * p.crop * p.crop;
      for (let first = 0; first < files.length; first += size) {
        const images: Float32Array[] = [], kept: (number | null)[] = [];
        files.slice(first, first + size).forEach((f, i) => {
          try {
            images.push(preprocessImage(readImage(join(dir, f)), p));
            kept.push(labels[first + i]);
          } catch (e) {
            skipped.push(`${f}: ${(e as Error).message}`);
          }
        });
        if (!images.length) continue;
        const data = new Float32Array(images.length * per);
        images.forEach((img, i) => data.set(img, i * per));
        yield { inputs: { data, shape: [images.length, 3, p.crop, p.crop] }, labels: kept };
      }
    },
  };
}
