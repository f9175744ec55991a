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
  /**
   * At most this many idle bytes stay on the free lists: past it, the least recently released go.
   * 'peak' (the default): twice the most bytes live at once since the last trim, at least 256 MiB, so
   * that a batch that follows one like it (IG's and Occlusion's, a dataset's images) finds every buffer it
   * needs, as PyTorch's caching allocator keeps its blocks until empty_cache: a new buffer's first use
   * touches its memory for the first time (page faults, Dawn's clear), which on lavapipe cost more
   * than MobileNetV2's kernels in an IG batch. trim() gives them back. A number sets a fixed limit.
   */
  maxIdleBytes: number | 'peak' = 'peak';
  /** The most bytes live at once since the last trim. */
  private peakLiveBytes = 0;

  /** The idle buffers, least recently released first: past maxIdleBytes these go, so that a job after another (Occlusion after IG) keeps its own. */
  private idleOrder = new Set<GPUBuffer>();
  /** Buffers released past maxIdleBytes: destroyed after the next submit, since commands recorded but not yet submitted may use them. */
  private doomed: GPUBuffer[] = [];

  /** `submitPending` submits the commands recorded so far (the context's flush). */
  constructor(private device: GPUDevice, /** The largest buffer that can be made and bound whole. */ private maxBufferSize: number, private submitPending: () => void = () => {}) {}

  acquire(bytes: number): GPUBuffer {
    if (bytes > this.maxBufferSize) {
      throw new Error(`a tensor of ${bytes} bytes exceeds what one kernel can bind on this adapter (${this.maxBufferSize} bytes); use a smaller batch or input size`);
    }
    const size = Math.min(bucketBytes(bytes), this.maxBufferSize - (this.maxBufferSize % 4));
    const list = this.free.get(size);
    let buffer = list?.[list.length - 1];
    if (buffer) {
      this.takeIdle(buffer, size);
    } else {
      buffer = this.device.createBuffer({
        size,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      this.sizes.set(buffer, size);
    }
    this.liveBytes += size;
    this.peakLiveBytes = Math.max(this.peakLiveBytes, this.liveBytes);
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
    this.idleOrder.add(buffer);
    const cap = this.maxIdleBytes === 'peak' ? Math.max(256 * 1024 * 1024, 2 * this.peakLiveBytes) : this.maxIdleBytes;
    for (const old of this.idleOrder) {
      if (this.idleBytes <= cap) break;
      this.takeIdle(old, this.sizes.get(old)!);
      this.doomed.push(old);
    }
  }

  /** Takes an idle buffer off its free list and out of the idle order and count. */
  private takeIdle(buffer: GPUBuffer, size: number): void {
    const list = this.free.get(size)!;
    list.splice(list.lastIndexOf(buffer), 1);
    if (!list.length) this.free.delete(size);
    this.idleOrder.delete(buffer);
    this.idleBytes -= size;
  }

  /** Destroys idle buffers (the live ones belong to tensors) until at most `keepBytes` stay idle, largest first; the peak starts again from what is live. */
  trim(keepBytes = 0): void {
    this.submitPending();
    for (const size of [...this.free.keys()].sort((a, b) => b - a)) {
      const list = this.free.get(size)!;
      while (this.free.has(size) && this.idleBytes > keepBytes) {
        const buffer = list[list.length - 1];
        this.takeIdle(buffer, size);
        buffer.destroy();
      }
    }
    this.peakLiveBytes = this.liveBytes;
  }

  /** Destroys the buffers released past maxIdleBytes; the context calls this right after a submit. */
  submitted(): void {
    for (const b of this.doomed) b.destroy();
    this.doomed = [];
  }
}
