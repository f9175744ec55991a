import { GpuContext, type GpuOptions } from './device.ts';

/**
 * A GPU context on the page's WebGPU (`navigator.gpu`), or on the `gpu` given, with the kernels the
 * build embedded. Without WebGPU it says how to get it.
 */
export async function createWebGpu(opts: Omit<GpuOptions, 'gpu'> & { gpu?: GPU } = {}): Promise<GpuContext> {
  const gpu = opts.gpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) {
    throw new Error('this browser has no WebGPU (navigator.gpu): use Chrome or Edge 113+, Safari 26+ or Firefox 141+ (Windows), or enable it (chrome://flags/#enable-unsafe-webgpu; Firefox: dom.webgpu.enabled)');
  }
  return GpuContext.create({ ...opts, gpu });
}
