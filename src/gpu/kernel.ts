import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js'; // the package declares no main
import { KERNEL_TEXTS } from './kernel-texts.ts';

/** Compile-time constants of a kernel: numbers and booleans substituted at `${NAME}` in its .wgsl file. */
export type Defines = Record<string, number | boolean>;

/**
 * What a dispatch needs to know about a kernel, in the style of ONNX Runtime web's programs: the
 * .wgsl file and entry point, the compile-time constants (part of the cache key), and how many
 * read-only and read-write storage buffers it binds after the uniform block at binding 0.
 * Shapes never go in `defines`: they travel as uniforms, so one pipeline serves every shape.
 */
export interface Kernel {
  /** Shown in errors and profiles, e.g. "conv2d_forward". */
  name: string;
  /** File under kernels/, without `.wgsl`. */
  file: string;
  entry?: string;
  defines?: Defines;
  inputs: number;
  outputs: number;
}

/** Returns the text of `kernels/<file>.wgsl`. Node reads files; a browser bundle embeds them. */
export type KernelSource = (file: string) => string;

/** The kernel texts a build embedded; from source (no build) there are none, and the caller must pass a source. */
export function embeddedKernelSource(): KernelSource {
  const texts = KERNEL_TEXTS;
  if (!texts) throw new Error('the kernels are not embedded (running from source): pass GpuContext.create a `source`, or in Node use createNodeGpu, which reads kernels/');
  return (file) => {
    const text = texts[file];
    if (text === undefined) throw new Error(`kernel file kernels/${file}.wgsl is not among the embedded kernels`);
    return text;
  };
}

export function kernelKey(k: Kernel): string {
  const defs = k.defines ? Object.keys(k.defines).sort().map((n) => `${n}=${Number(k.defines![n])}`).join(',') : '';
  return `${k.file}:${k.entry ?? 'main'}:${defs}`;
}

/**
 * Replaces each line `#include "name"` with kernels/name.wgsl (itself expanded), so kernel files
 * share helpers; the included text sees the including kernel's constants.
 */
export function expandIncludes(text: string, file: string, source: KernelSource, open: string[] = []): string {
  return text.replace(/^#include "([\w-]+)"[ \t]*$/gm, (_, name: string) => {
    if (name === file || open.includes(name)) throw new Error(`kernels/${file}.wgsl: #include "${name}" includes itself`);
    return expandIncludes(source(name), name, source, [...open, file]);
  });
}

/**
 * Splits the file at each `${NAME}` and hands the pieces to wgsl-preprocessor's tag, so `#if ${FLAG}`
 * works in a plain .wgsl file. Booleans become 1/0, so they work both in `#if` and as WGSL integers.
 * With `source`, `#include "name"` lines are expanded first (expandIncludes).
 */
export function preprocess(text: string, file: string, defines: Defines = {}, source?: KernelSource): string {
  if (source) text = expandIncludes(text, file, source);
  const strings: string[] = [];
  const values: (number | boolean)[] = [];
  const re = /\$\{([A-Z_][A-Z0-9_]*)\}/g;
  let last = 0;
  for (let m; (m = re.exec(text)); ) {
    const name = m[1];
    if (!(name in defines)) throw new Error(`kernels/${file}.wgsl uses \${${name}} but the kernel does not define it`);
    strings.push(text.slice(last, m.index));
    values.push(defines[name]);
    last = m.index + m[0].length;
  }
  strings.push(text.slice(last));
  const raw = Object.assign([...strings], { raw: strings }) as unknown as TemplateStringsArray;
  // wgsl() treats a boolean in #if as the condition and appends other values as text.
  return wgsl(raw, ...values.map((v) => (typeof v === 'boolean' ? Number(v) : v)));
}
