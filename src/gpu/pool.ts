/**
 * Size-bucketed reuse of GPU buffers. Creating and destroying a GPUBuffer per tensor costs more than
 * most kernels here, so released buffers go on a free list keyed by their rounded size and are handed
 * out again. Sizes round up to a quarter of their power of two (in 256-byte granules), which bounds
 * the waste at 25% above 1 KiB.
 */
const MIN_BYTES = 256;

export function bucketBytes(bytes: number): number {
  if (bytes <= MIN_BYTES) return MIN_BYTES;
  const step = 2 ** Math.max(8, Math.floor(Math.log2(bytes - 1)) - 2);
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private sizes = new WeakMap<GPUBuffer, number>();
  /** Bytes of buffers handed out and not yet released: what a leak makes grow. */
  liveBytes = 0;
  /** Bytes held on free lists, ready for reuse. */
  idleBytes = 0;
  /** The largest single buffer handed out since this was last set to 0 (batch sizing measures with it). */
  peakAcquire = 0;

  constructor(private device: GPUDevice, private maxBufferSize: number) {}

  acquire(bytes: number): GPUBuffer {
    const size = bucketBytes(bytes);
    if (size > this.maxBufferSize) {
      throw new Error(`a GPU buffer of ${bytes} bytes exceeds this adapter's maxBufferSize (${this.maxBufferSize}); use a smaller batch`);
    }
    const list = this.free.get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.idleBytes -= size;
    } else {
      buffer = this.device.createBuffer({
        size,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      this.sizes.set(buffer, size);
    }
    this.liveBytes += size;
    this.peakAcquire = Math.max(this.peakAcquire, size);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const size = this.sizes.get(buffer);
    if (size === undefined) throw new Error('release of a buffer that this pool did not create');
    this.liveBytes -= size;
    this.idleBytes += size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buffer);
  }

  /** Destroys idle buffers (the live ones belong to tensors). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.idleBytes = 0;
  }
}
