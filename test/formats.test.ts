import { suite } from 'uvu';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { parsePth } from '../src/io/pth.ts';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.ts';
import { parseTfjsWeights, kerasResNet50ToTorchvision } from '../src/io/tfjs.ts';
import { decodeImage, MAX_PIXELS } from '../src/io/image-decode.ts';
import { crc32 } from '../src/io/zip.ts';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REF_DIR } from './refdata.ts';
import jpeg from 'jpeg-js';

const test = suite('formats');

async function rejects(fn: () => unknown, expect: string | RegExp): Promise<void> {
  let msg = '';
  try { await fn(); } catch (e) { msg = (e as Error).message; }
  if (!msg) throw new Error(`expected an error matching ${expect}, got none`);
  if (typeof expect === 'string' ? !msg.includes(expect) : !expect.test(msg)) throw new Error(`expected ${expect}, got: ${msg}`);
}

/** A stored (uncompressed) zip, as torch.save writes, with each entry's CRC-32. */
function zip(files: Record<string, Uint8Array>): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [], central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const n = enc.encode(name);
    const local = new Uint8Array(30 + n.length), dv = new DataView(local.buffer);
    dv.setUint32(0, 0x04034b50, true); dv.setUint32(14, crc32(data), true); dv.setUint32(18, data.length, true); dv.setUint32(22, data.length, true); dv.setUint16(26, n.length, true);
    local.set(n, 30);
    const c = new Uint8Array(46 + n.length), cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true); cv.setUint32(16, crc32(data), true); cv.setUint32(20, data.length, true); cv.setUint32(24, data.length, true);
    cv.setUint16(28, n.length, true); cv.setUint32(42, offset, true);
    c.set(n, 46);
    parts.push(local, data);
    central.push(c);
    offset += local.length + data.length;
  }
  const dirSize = central.reduce((s, c) => s + c.length, 0);
  const end = new Uint8Array(22), ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true); ev.setUint16(8, central.length, true); ev.setUint16(10, central.length, true);
  ev.setUint32(12, dirSize, true); ev.setUint32(16, offset, true);
  const all = [...parts, ...central, end];
  const out = new Uint8Array(all.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of all) { out.set(p, at); at += p.length; }
  return out;
}

test('a .pth whose pickle names another global (os.system) is refused by name', async () => {
  // protocol 2: GLOBAL 'os system', then a string argument, TUPLE1, REDUCE, STOP
  const pkl = new Uint8Array([0x80, 0x02, ...new TextEncoder().encode('cos\nsystem\n'), 0x58, 4, 0, 0, 0, ...new TextEncoder().encode('echo'), 0x85, 0x52, 0x2e]);
  await rejects(() => parsePth(zip({ 'evil/data.pkl': pkl }), 'evil.pth'), "refers to the Python global 'os.system'");
  // builtins.eval by STACK_GLOBAL is refused too
  const pkl2 = new Uint8Array([0x80, 0x04, 0x8c, 8, ...new TextEncoder().encode('builtins'), 0x8c, 4, ...new TextEncoder().encode('eval'), 0x93, 0x2e]);
  await rejects(() => parsePth(zip({ 'evil/data.pkl': pkl2 }), 'evil.pth'), "'builtins.eval'");
});

test('corrupt and truncated checkpoints give clear errors', async () => {
  const pth = new Uint8Array(readFileSync(join(REF_DIR, 'resnet18_seed0.pth')));
  await rejects(() => parsePth(pth.subarray(0, pth.length - 100), 'cut.pth'), /not a zip archive|truncated|corrupt/);
  await rejects(() => parsePth(pth.subarray(0, 5000), 'cut.pth'), /not a zip archive|truncated/);
  await rejects(() => parsePth(new TextEncoder().encode('hello world, not a checkpoint at all....'), 'text.pth'), 'not a zip archive');
  await rejects(() => parsePth(zip({ 'x/other.txt': new Uint8Array(3) }), 'nopkl.pth'), 'without data.pkl');
});

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

test('a .pth with 4 KB of tensor data overwritten is refused by its CRC-32; CRC-32 itself', async () => {
  if (crc32(new TextEncoder().encode('123456789')).toString(16) !== 'cbf43926') throw new Error('CRC-32 check value');
  const pth = new Uint8Array(readFileSync(join(REF_DIR, 'resnet18_seed0.pth')));
  const bad = pth.slice();
  bad.fill(0x42, Math.floor(pth.length / 2), Math.floor(pth.length / 2) + 4096);
  await rejects(() => parsePth(bad, 'damaged.pth'), /damaged.pth is corrupt: .* does not match its CRC-32/);
});

test('checkpoints from training scripts: {state_dict, epoch, optimizer}, {model}, DataParallel\'s module. prefix; another key is named', async () => {
  const keys = async (f: string) => [...(await parsePth(new Uint8Array(readFileSync(join(FIXTURES, 'checkpoints', f))), f)).keys()].sort().join();
  const want = await keys('plain.pth');
  if (want !== '0.bias,0.weight,1.bias,1.num_batches_tracked,1.running_mean,1.running_var,1.weight') throw new Error(want);
  for (const f of ['state_dict_key.pth', 'model_key.pth', 'dataparallel.pth']) {
    const got = await keys(f);
    if (got !== want) throw new Error(`${f}: ${got}`);
  }
  const plain = await parsePth(new Uint8Array(readFileSync(join(FIXTURES, 'checkpoints', 'plain.pth'))));
  const wrapped = await parsePth(new Uint8Array(readFileSync(join(FIXTURES, 'checkpoints', 'state_dict_key.pth'))));
  if ([...wrapped.get('0.weight')!.data].join() !== [...plain.get('0.weight')!.data].join()) throw new Error('the wrapped weights differ');
  await rejects(async () => keys('other_key.pth'), "holds a dict of 'weights', 'epoch', not a state_dict; the weights may be under 'weights'");
});

test('corrupt and truncated safetensors give clear errors', async () => {
  const good = serializeSafetensors({ a: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } }, { note: 'x' });
  const back = parseSafetensors(good);
  if ([...back.tensors.get('a')!.data].join() !== '1,2,3,4' || back.metadata.note !== 'x') throw new Error('round trip');
  await rejects(() => parseSafetensors(good.subarray(0, good.length - 4), 'cut.safetensors'), 'truncated');
  await rejects(() => parseSafetensors(good.subarray(0, 5), 'tiny.safetensors'), 'truncated');
  const bad = good.slice();
  bad[8] = 0x21; // the header's opening brace becomes '!'
  await rejects(() => parseSafetensors(bad, 'bad.safetensors'), 'not JSON');
  const huge = good.slice();
  new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
  await rejects(() => parseSafetensors(huge, 'huge.safetensors'), 'corrupt or truncated');
});

test('TF.js: shards shorter than the manifest, and a model that is not ResNet50, are clear errors', async () => {
  const manifest = JSON.stringify({ weightsManifest: [{ paths: ['s1.bin'], weights: [{ name: 'conv1/kernel', shape: [2, 2], dtype: 'float32' }] }] });
  await rejects(() => parseTfjsWeights(manifest, async () => new Uint8Array(8), 'm.json'), 'truncated');
  await rejects(() => parseTfjsWeights('{oops', async () => new Uint8Array(0), 'm.json'), 'not JSON');
  const w = await parseTfjsWeights(manifest, async () => new Uint8Array(16), 'm.json');
  await rejects(() => kerasResNet50ToTorchvision(w), "no weight 'conv1/bias'");
});

test('JPEG decodes to the same picture as the PNG (within JPEG loss)', () => {
  const img = decodeImage(new Uint8Array(readFileSync(join(REF_DIR, 'images', 'chelsea.png'))));
  const rgba = new Uint8Array(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) rgba.set([img.data[3 * i], img.data[3 * i + 1], img.data[3 * i + 2], 255], 4 * i);
  const jpg = jpeg.encode({ data: rgba, width: img.width, height: img.height }, 95).data;
  const back = decodeImage(new Uint8Array(jpg), 'chelsea.jpg');
  if (back.width !== img.width || back.height !== img.height) throw new Error('size');
  let d = 0;
  for (let i = 0; i < img.data.length; i++) d += Math.abs(back.data[i] - img.data[i]);
  if (!(d / img.data.length < 3)) throw new Error(`mean absolute difference ${d / img.data.length} of 255`);
});

test('JPEG: the pixels PIL decodes, for baseline 4:2:0, 4:2:2, 4:4:4, progressive and grayscale; CMYK within 1/255', () => {
  const bytes = new Uint8Array(readFileSync(join(FIXTURES, 'jpeg', 'pil_rgb.safetensors')));
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { shape: number[]; data_offsets: [number, number] }>;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  if (names.length !== 7) throw new Error(`fixture holds ${names.join(', ')}`);
  for (const name of names) {
    const { shape: [H, W], data_offsets: [a, b] } = header[name];
    const pil = bytes.subarray(8 + n + a, 8 + n + b);
    const img = decodeImage(new Uint8Array(readFileSync(join(FIXTURES, 'jpeg', `${name}.jpg`))), name);
    if (img.width !== W || img.height !== H) throw new Error(`${name}: ${img.width}x${img.height}, PIL ${W}x${H}`);
    let worst = 0;
    for (let i = 0; i < pil.length; i++) worst = Math.max(worst, Math.abs(img.data[i] - pil[i]));
    if (worst > (name === 'cmyk' ? 1 : 0)) throw new Error(`${name}: differs from PIL by up to ${worst}/255`);
  }
  const cut = new Uint8Array(readFileSync(join(FIXTURES, 'jpeg', 'baseline_444.jpg'))).subarray(0, 1500);
  let msg = '';
  try { decodeImage(cut, 'cut.jpg'); } catch (e) { msg = (e as Error).message; }
  if (!msg.includes('cut.jpg is not a readable JPEG (truncated or corrupt): Premature end of JPEG file')) throw new Error(`a truncated JPEG: ${msg || 'decoded'}`);
});

test('images beyond PIL\'s pixel limit are refused from their header, before decoding', async () => {
  const png = new Uint8Array(readFileSync(join(REF_DIR, 'images', 'chelsea.png'))).slice();
  new DataView(png.buffer).setUint32(16, 15000);
  new DataView(png.buffer).setUint32(20, 15000);
  await rejects(() => decodeImage(png, 'bomb.png'), `bomb.png is 15000 x 15000 = 225000000 pixels, over the limit of ${MAX_PIXELS}`);
  const jpg = new Uint8Array(readFileSync(join(FIXTURES, 'jpeg', 'baseline_420.jpg')));
  await rejects(() => decodeImage(jpg, 'small.jpg', { maxPixels: 100 }), 'small.jpg is 77 x 53 = 4081 pixels, over the limit of 100');
});

test('images: a corrupt PNG and a non-image are clear errors', async () => {
  const png = new Uint8Array(readFileSync(join(REF_DIR, 'images', 'chelsea.png')));
  const img = decodeImage(png);
  if (img.width !== 451 || img.height !== 300) throw new Error(`${img.width}x${img.height}`);
  await rejects(() => decodeImage(png.subarray(0, 2000), 'cut.png'), 'not a readable PNG');
  await rejects(() => decodeImage(new TextEncoder().encode('GIF89a........'), 'x.gif'), 'neither a PNG nor a JPEG');
});

test.run();
