/**
 * An open-loop send schedule: burst k of `batch` messages is due at
 * `start + k × batch / rate`, whatever the server did with the previous ones. A generator
 * that falls behind (a busy event loop, a full socket) sends the overdue bursts at once,
 * each still stamped with the time it was *due*, so the measured latency includes every
 * wait a real client would have seen: no coordinated omission.
 */
export class RateSchedule {
  /** Microseconds between bursts. */
  readonly interval: number;
  /** Bursts in the whole run. */
  readonly bursts: number;
  private next = 0;

  constructor(
    /** Messages per second, in total; more than 0. */
    readonly rate: number,
    /** Messages per burst (written together); 1 or more. */
    readonly batch: number,
    /** When the first burst is due, µs. */
    readonly start: number,
    /** µs; bursts due at or after it are not sent. */
    readonly end: number,
  ) {
    if (!(rate > 0)) throw new RangeError(`rate must be more than 0, got ${rate}`);
    if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be a whole number of 1 or more, got ${batch}`);
    this.interval = (batch * 1e6) / rate;
    this.bursts = end > start ? Math.ceil((end - start) / this.interval) : 0;
  }

  get done(): boolean {
    return this.next >= this.bursts;
  }

  /** Messages released so far. */
  get released(): number {
    return this.next * this.batch;
  }

  /** When the next burst is due (µs), or Infinity once done. */
  nextDue(): number {
    return this.done ? Infinity : this.start + this.next * this.interval;
  }

  /**
   * Releases every burst due at `now`, oldest first: `emit(dueAt, index)` per burst.
   * Returns how many were released.
   */
  release(now: number, emit: (dueAt: number, index: number) => void): number {
    let released = 0;
    while (this.next < this.bursts) {
      const dueAt = this.start + this.next * this.interval;
      if (dueAt > now) break;
      emit(dueAt, this.next);
      this.next++;
      released++;
    }
    return released;
  }
}
