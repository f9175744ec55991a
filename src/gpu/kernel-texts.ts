/**
 * Every kernels/*.wgsl text by file name, embedded by the build (scripts/build.ts, and the explorer's
 * page bundle, through src/io/bundle.ts) so that a package or a page reads no files at run time.
 * Null when running from source: Node reads kernels/ instead (src/io/node-gpu.ts).
 */
export const KERNEL_TEXTS: Readonly<Record<string, string>> | null = null;
