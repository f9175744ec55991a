/**
 * One GPU, many requests: jobs run one at a time in the order they came (tidy scopes and the device's
 * command stream must not interleave). A job whose client went away is skipped if it has not started,
 * and stopped at its next progress report if it has.
 */
export class AbortedError extends Error {
  constructor() {
    super('the request was cancelled: its client went away');
  }
}

export interface JobProgress {
  label: string;
  done: number;
  total: number;
}

export class WorkQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  private current: JobProgress | null = null;
  completed = 0;
  /** `afterEach` runs when a job ends, however it ends (the explorer gives idle GPU memory back there). */
  constructor(private afterEach: () => void = () => {}) {}

  /** What runs now and how many wait: for the page's progress indicator. */
  status(): { running: JobProgress | null; queued: number; completed: number } {
    return { running: this.current && { ...this.current }, queued: this.waiting, completed: this.completed };
  }

  run<T>(label: string, job: (progress: (done: number, total: number) => void) => Promise<T>, signal?: AbortSignal): Promise<T> {
    this.waiting++;
    const result = this.tail.then(async () => {
      this.waiting--;
      if (signal?.aborted) throw new AbortedError();
      this.current = { label, done: 0, total: 1 };
      try {
        return await job((done, total) => {
          if (signal?.aborted) throw new AbortedError();
          if (this.current) Object.assign(this.current, { done, total });
        });
      } finally {
        this.current = null;
        this.completed++;
        this.afterEach();
      }
    });
    this.tail = result.catch(() => {});
    return result;
  }
}
