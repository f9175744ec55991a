import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import mozjpegDecoder from '@jsquash/jpeg/codec/dec/mozjpeg_dec.js';
import { initEmscriptenModule } from '@jsquash/jpeg/utils.js';
import type { RgbImage } from './image.ts';

// JPEGs are decoded by libjpeg-turbo (mozjpeg's decoder, compiled to WebAssembly by @jsquash/jpeg), as
// PIL decodes them (islow IDCT, fancy upsampling): the same pixels, so the same model input as
// torchvision's. It cannot give RGB for CMYK/YCCK JPEGs; jpeg-js decodes those.
const wasm = new WebAssembly.Module(readFileSync(createRequire(import.meta.url).resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm')));
const libjpegMessages: string[] = []; // what libjpeg says while decoding (it prints, then exits on errors)
const libjpeg = await initEmscriptenModule(mozjpegDecoder, wasm, { print: () => {}, printErr: (m: string) => libjpegMessages.push(m) });

function decodeJpeg(bytes: Uint8Array): RgbImage {
  libjpegMessages.length = 0;
  let j: ImageData | null = null;
  try {
    j = libjpeg.decode(bytes, false);
  } catch (e) {
    throw new Error(libjpegMessages[0] ?? (e as Error).message);
  }
  // libjpeg pads a truncated file with grey and only warns; PIL refuses it ("image file is truncated").
  const truncated = libjpegMessages.find((m) => m.startsWith('Premature end of JPEG file'));
  if (!j || truncated) throw new Error(truncated ?? libjpegMessages[0] ?? 'libjpeg-turbo could not decode it');
  return rgbaToRgb(j.width, j.height, new Uint8Array(j.data.buffer, j.data.byteOffset, j.data.byteLength));
}

function rgbaToRgb(width: number, height: number, rgba: Uint8Array): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    data[i * 3] = rgba[i * 4];
    data[i * 3 + 1] = rgba[i * 4 + 1];
    data[i * 3 + 2] = rgba[i * 4 + 2];
  }
  return { width, height, data };
}

/** PIL's Image.MAX_IMAGE_PIXELS: larger images are refused before decoding (decompression bombs). */
export const MAX_PIXELS = 89_478_485;

/** A JPEG's start-of-frame: its size and colour components (4 for CMYK and YCCK); null if there is none. */
function jpegFrame(bytes: Uint8Array): { width: number; height: number; components: number } | null {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let p = 2; p + 9 < bytes.length;) {
    if (bytes[p] !== 0xff) return null;
    const marker = bytes[p + 1];
    if (marker === 0xff) { p++; continue; }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: dv.getUint16(p + 5), width: dv.getUint16(p + 7), components: bytes[p + 9] };
    }
    p += 2 + dv.getUint16(p + 2);
  }
  return null;
}

/** Width and height from a PNG's IHDR or a JPEG's start-of-frame marker, without decoding; null if not found. */
export function imageSize(bytes: Uint8Array): { width: number; height: number } | null {
  if (bytes.length >= 24 && bytes[0] === 0x89 && bytes[1] === 0x50) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { width: dv.getUint32(16), height: dv.getUint32(20) };
  }
  return jpegFrame(bytes);
}

/** Decodes PNG or JPEG bytes (by signature) to RGB; alpha is dropped, as PIL's convert('RGB'). */
export function decodeImage(bytes: Uint8Array, what = 'image', opts: { maxPixels?: number } = {}): RgbImage {
  const isPng = bytes.length > 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8;
  const size = imageSize(bytes), maxPixels = opts.maxPixels ?? MAX_PIXELS;
  if (size && size.width * size.height > maxPixels) {
    throw new Error(`${what} is ${size.width} x ${size.height} = ${size.width * size.height} pixels, over the limit of ${maxPixels} (PIL's, against decompression bombs); scale it down first`);
  }
  try {
    if (isPng) {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return rgbaToRgb(png.width, png.height, png.data);
    }
    if (isJpeg && jpegFrame(bytes)?.components === 4) { // CMYK or YCCK: libjpeg-turbo gives no RGB for them
      const j = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
      return rgbaToRgb(j.width, j.height, j.data);
    }
    if (isJpeg) return decodeJpeg(bytes);
  } catch (e) {
    if (isPng || isJpeg) throw new Error(`${what} is not a readable ${isPng ? 'PNG' : 'JPEG'} (truncated or corrupt): ${(e as Error).message}`);
    throw e;
  }
  throw new Error(`${what} is neither a PNG nor a JPEG image`);
}

export function readImage(path: string): RgbImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read image ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  return decodeImage(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}

/** Writes RGB pixels as a PNG file's bytes. */
export function encodePng(img: RgbImage): Buffer {
  const png = new PNG({ width: img.width, height: img.height });
  for (let i = 0; i < img.width * img.height; i++) {
    png.data[i * 4] = img.data[i * 3];
    png.data[i * 4 + 1] = img.data[i * 3 + 1];
    png.data[i * 4 + 2] = img.data[i * 3 + 2];
    png.data[i * 4 + 3] = 255;
  }
  return PNG.sync.write(png);
}
