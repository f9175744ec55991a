const CAPACITY = 512; // pairs of timestamps per submit

export interface KernelTime {
  kernel: string;
  calls: number;
  ms: number;
}

/**
 * Per-kernel GPU time from timestamp queries: each dispatch runs in its own compute pass whose
 * beginning and end are stamped; after each submit the stamps are resolved and read back.
 */
export class Profiler {
  private querySet: GPUQuerySet;
  private resolveBuffer: GPUBuffer;
  private names: string[] = [];
  private pending: Promise<void>[] = [];
  private totals = new Map<string, { calls: number; ns: number }>();
  private readBuffer: GPUBuffer | null = null;
  private readNames: string[] = [];

  constructor(private device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: CAPACITY * 2 });
    this.resolveBuffer = device.createBuffer({ size: CAPACITY * 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  }

  full(): boolean {
    return this.names.length >= CAPACITY;
  }

  writes(kernel: string): GPUComputePassTimestampWrites {
    const i = this.names.length;
    this.names.push(kernel);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  resolve(encoder: GPUCommandEncoder): void {
    const n = this.names.length;
    if (n === 0) return;
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuffer, 0);
    this.readBuffer = this.device.createBuffer({ size: 16 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, this.readBuffer, 0, 16 * n);
    this.readNames = this.names;
    this.names = [];
  }

  /** Called after the submit that carried `resolve`. */
  collect(): void {
    const buffer = this.readBuffer, names = this.readNames;
    if (!buffer) return;
    this.readBuffer = null;
    this.pending.push(buffer.mapAsync(GPUMapMode.READ).then(() => {
      const t = new BigUint64Array(buffer.getMappedRange());
      names.forEach((name, i) => {
        const entry = this.totals.get(name) ?? { calls: 0, ns: 0 };
        entry.calls++;
        entry.ns += Number(t[2 * i + 1] - t[2 * i]);
        this.totals.set(name, entry);
      });
      buffer.unmap();
      buffer.destroy();
    }));
  }

  async settle(): Promise<void> {
    const p = this.pending;
    this.pending = [];
    await Promise.all(p);
  }

  reset(): void {
    this.totals.clear();
  }

  report(): KernelTime[] {
    return [...this.totals].map(([kernel, t]) => ({ kernel, calls: t.calls, ms: t.ns / 1e6 })).sort((a, b) => b.ms - a.ms);
  }
}
