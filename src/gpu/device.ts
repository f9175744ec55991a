import { BufferPool } from './pool.ts';
import { type Kernel, type KernelSource, embeddedKernelSource, kernelKey, preprocess } from './kernel.ts';
import { Profiler } from './profiler.ts';

export interface GpuOptions {
  /** `navigator.gpu` in a browser; in Node, the object made by the `webgpu` package (see src/io/node-gpu.ts). */
  gpu: GPU;
  /** Where kernel texts come from; by default the texts a build embedded (the npm package, a bundle). */
  source?: KernelSource;
  /** Record per-kernel GPU time with timestamp queries (needs the `timestamp-query` feature). */
  profile?: boolean;
  powerPreference?: GPUPowerPreference;
}

export interface Dispatch {
  inputs: GPUBuffer[];
  outputs: GPUBuffer[];
  /** Uniform words, in the order the kernel's `Params` struct declares them: the i32s, then the f32s. */
  ints?: number[];
  floats?: number[];
  workgroups: [number, number, number];
}

const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment is at most 256 on every adapter
const UNIFORM_SLOTS = 4096;
const MAX_DISPATCHES_PER_SUBMIT = 512;

export const NO_ADAPTER_HELP =
  'No WebGPU adapter was found. Glimpse needs a Vulkan, Metal or D3D12 driver. On a GPU-less ' +
  'Debian/Ubuntu machine install Mesa lavapipe >= 23 (software Vulkan): run `bash scripts/install-vulkan.sh` ' +
  '(on Debian bookworm it installs mesa-vulkan-drivers from bookworm-backports).';

/**
 * One WebGPU device with everything the engine needs around it: the pipeline cache, the buffer pool,
 * dispatches batched into one command encoder per submit, readback, and errors turned into thrown
 * errors that name the kernel. Uniforms for every dispatch of a batch live in distinct 256-byte slots
 * of one buffer written once before the submit, because two `writeBuffer`s to the same place before
 * a submit would make both dispatches see the second value.
 */
export class GpuContext {
  readonly pool: BufferPool;
  readonly profiler: Profiler | null;
  private pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  private layouts = new Map<string, GPUBindGroupLayout>();
  private uniformBuffer: GPUBuffer;
  private uniformData = new ArrayBuffer(UNIFORM_SLOT * UNIFORM_SLOTS);
  private uniformSlot = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private batchKernels: string[] = [];
  private pendingChecks: Promise<void>[] = [];
  /** The device is gone: every later call throws this. */
  private fatal: Error | null = null;
  /** An error reported for earlier work (a kernel that failed to compile, a rejected batch): thrown once. */
  private failure: Error | null = null;
  private compileFailure: Error | null = null;
  private destroyed = false;

  private constructor(
    // Held for the device's lifetime: on dawn.node, once the GPU object is garbage collected its
    // instance is destroyed under the live device, and the next event poll aborts the process.
    private gpu: GPU | null,
    readonly device: GPUDevice,
    readonly adapterDescription: string,
    private source: KernelSource,
    profile: boolean,
    /** The smallest subgroup the device may run, 0 without the `subgroups` feature. */
    readonly subgroupMinSize = 0,
    /** Whether kernels may use f16 (the `shader-f16` feature): convSettings.precision 'f16' needs it. */
    readonly shaderF16 = false,
  ) {
    this.pool = new BufferPool(device, Math.min(device.limits.maxBufferSize, device.limits.maxStorageBufferBindingSize), () => this.flush());
    this.uniformBuffer = device.createBuffer({ size: this.uniformData.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.profiler = profile ? new Profiler(device) : null;
    device.lost.then((info) => {
      if (!this.destroyed) this.fatal ??= new Error(`the GPU device was lost (${info.reason}): ${info.message}`);
    });
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.failure ??= new Error(`GPU error near kernels [${this.batchKernels.join(', ')}]: ${e.message}`);
    });
  }

  static async create(opts: GpuOptions): Promise<GpuContext> {
    const adapter = await opts.gpu.requestAdapter({ powerPreference: opts.powerPreference });
    if (!adapter) throw new Error(NO_ADAPTER_HELP);
    // Ask for the adapter's maximum limits: attribution batches want the largest bindings it allows.
    const requiredLimits: Record<string, number> = {};
    for (const name of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
      'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
      'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage'] as const) {
      requiredLimits[name] = adapter.limits[name];
    }
    const profile = !!opts.profile && adapter.features.has('timestamp-query');
    // Subgroups let the convolution kernels share loads between lanes (kernels/register-tile.wgsl).
    const subgroups = adapter.features.has('subgroups');
    const requiredFeatures: GPUFeatureName[] = [];
    if (profile) requiredFeatures.push('timestamp-query');
    if (subgroups) requiredFeatures.push('subgroups' as GPUFeatureName);
    // f16 arithmetic, for the convolutions' optional f16 path (convSettings.precision).
    const shaderF16 = adapter.features.has('shader-f16');
    if (shaderF16) requiredFeatures.push('shader-f16');
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
    const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number };
    const description = [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => s).join(' ') || 'unknown adapter';
    return new GpuContext(opts.gpu, device, description, opts.source ?? embeddedKernelSource(), profile, subgroups ? info?.subgroupMinSize ?? 0 : 0, shaderF16);
  }

  /** A CPU implementation of WebGPU (lavapipe, SwiftShader): 8-lane SIMD, where loads, not FMAs, bound kernels. */
  get cpuAdapter(): boolean {
    return /llvmpipe|lavapipe|swiftshader/i.test(this.adapterDescription);
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  private bindGroupLayout(inputs: number, outputs: number): GPUBindGroupLayout {
    const key = `${inputs}/${outputs}`;
    let layout = this.layouts.get(key);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } }];
      for (let i = 0; i < inputs + outputs; i++) {
        entries.push({ binding: i + 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: i < inputs ? 'read-only-storage' : 'storage' } });
      }
      layout = this.device.createBindGroupLayout({ entries });
      this.layouts.set(key, layout);
    }
    return layout;
  }

  private pipeline(k: Kernel) {
    const key = kernelKey(k);
    let entry = this.pipelines.get(key);
    if (entry) return entry;
    const code = preprocess(this.source(k.file), k.file, k.defines, this.source);
    const layout = this.bindGroupLayout(k.inputs, k.outputs);
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code, label: k.name });
    const pipeline = this.device.createComputePipeline({
      label: k.name,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: k.entry ?? 'main' },
    });
    const scope = this.device.popErrorScope();
    this.pendingChecks.push((async () => {
      const err = await scope;
      if (!err) return;
      const info = await module.getCompilationInfo();
      const msgs = info.messages.map((m) => `  ${m.type} at line ${m.lineNum}:${m.linePos}: ${m.message}`).join('\n');
      this.pipelines.delete(key);
      this.compileFailure ??= new Error(`kernel ${k.name} (kernels/${k.file}.wgsl) failed to compile: ${err.message}${msgs ? '\n' + msgs : ''}`);
    })());
    entry = { pipeline, layout };
    this.pipelines.set(key, entry);
    return entry;
  }

  private checkAlive(): void {
    if (this.destroyed) throw new Error('the GPU context was destroyed');
    if (this.fatal) throw this.fatal;
    // A compile error explains the batch errors that follow from it: report it first.
    const e = this.compileFailure ?? this.failure;
    if (e) {
      this.compileFailure = this.failure = null;
      throw e;
    }
  }

  private beginPass(kernelName: string): GPUComputePassEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    if (this.profiler) {
      // One pass per dispatch so that each gets its own timestamps.
      this.pass?.end();
      this.pass = this.encoder.beginComputePass({ timestampWrites: this.profiler.writes(kernelName) });
    } else {
      this.pass ??= this.encoder.beginComputePass();
    }
    return this.pass;
  }

  private endPass(): GPUCommandEncoder {
    this.pass?.end();
    this.pass = null;
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  dispatch(k: Kernel, d: Dispatch): void {
    this.checkAlive();
    if (d.inputs.length !== k.inputs || d.outputs.length !== k.outputs) {
      throw new Error(`kernel ${k.name} binds ${k.inputs} inputs and ${k.outputs} outputs, got ${d.inputs.length} and ${d.outputs.length}`);
    }
    const [x, y, z] = d.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxDim = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxDim || y > maxDim || z > maxDim) throw new Error(`kernel ${k.name}: dispatch ${x}x${y}x${z} exceeds ${maxDim} workgroups per dimension`);
    if (this.uniformSlot === UNIFORM_SLOTS || (this.profiler && this.profiler.full())) this.flush();
    const { pipeline, layout } = this.pipeline(k);
    const offset = this.uniformSlot++ * UNIFORM_SLOT;
    const ints = d.ints ?? [], floats = d.floats ?? [];
    if ((ints.length + floats.length) * 4 > UNIFORM_SLOT) throw new Error(`kernel ${k.name}: too many uniforms`);
    new Int32Array(this.uniformData, offset, ints.length).set(ints);
    new Float32Array(this.uniformData, offset + ints.length * 4, floats.length).set(floats);
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.uniformBuffer, offset, size: UNIFORM_SLOT } }];
    [...d.inputs, ...d.outputs].forEach((buffer, i) => entries.push({ binding: i + 1, resource: { buffer } }));
    const pass = this.beginPass(k.name);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, this.device.createBindGroup({ layout, entries }));
    pass.dispatchWorkgroups(x, y, z);
    this.batchKernels.push(k.name);
    if (this.batchKernels.length >= MAX_DISPATCHES_PER_SUBMIT) this.flush();
  }

  /** Zeroes `bytes` (a multiple of 4) of dst from dstOffset: a memset where a fill kernel would store lane by lane. */
  clear(dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.checkAlive();
    if (bytes > 0) this.endPass().clearBuffer(dst, dstOffset, bytes);
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.checkAlive();
    this.endPass().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Uploads data. Pending commands are submitted first: a reused pool buffer may still be read by them. */
  write(dst: GPUBuffer, data: ArrayBufferView, dstOffset = 0): void {
    this.checkAlive();
    this.flush();
    this.device.queue.writeBuffer(dst, dstOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    const encoder = this.encoder!;
    this.encoder = null;
    this.profiler?.resolve(encoder);
    const kernels = this.batchKernels;
    this.batchKernels = [];
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    if (this.uniformSlot > 0) this.device.queue.writeBuffer(this.uniformBuffer, 0, this.uniformData, 0, this.uniformSlot * UNIFORM_SLOT);
    this.uniformSlot = 0;
    this.device.queue.submit([encoder.finish()]);
    this.pool.submitted();
    const validation = this.device.popErrorScope();
    const oom = this.device.popErrorScope();
    this.pendingChecks.push(Promise.all([validation, oom]).then(([v, o]) => {
      const err = v ?? o;
      if (err) this.failure ??= new Error(`GPU ${o && !v ? 'out of memory' : 'error'} in a batch of kernels [${[...new Set(kernels)].join(', ')}]: ${err.message}`);
    }));
    this.profiler?.collect();
  }

  /** Waits for the GPU to finish all submitted work and throws the first error it reported. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.drainChecks();
  }

  private async drainChecks(): Promise<void> {
    while (this.pendingChecks.length) {
      const checks = this.pendingChecks;
      this.pendingChecks = [];
      await Promise.all(checks);
    }
    if (this.profiler) await this.profiler.settle();
    this.checkAlive();
  }

  /** Reads `bytes` bytes of `src` back to the CPU: the only way results leave the GPU. */
  async read(src: GPUBuffer, bytes: number, srcOffset = 0): Promise<ArrayBuffer> {
    this.checkAlive();
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.endPass().copyBufferToBuffer(src, srcOffset, staging, 0, size);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
      const out = staging.getMappedRange().slice(0, bytes);
      staging.unmap();
      return out;
    } catch (e) {
      await this.drainChecks();
      throw e;
    } finally {
      staging.destroy();
      await this.drainChecks();
    }
  }

  /** Frees the device; the process can exit once the context is no longer referenced. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.encoder = null;
    this.pass = null;
    this.pipelines.clear();
    this.pool.trim();
    this.uniformBuffer.destroy();
    this.device.destroy();
    this.gpu = null;
  }
}
