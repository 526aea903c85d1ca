/**
 * Loss accounting of one receiver. Each sender numbers its messages 0, 1, 2, …; a
 * receiver expects every sender it can hear from (senders `first`, `first + stride`, …)
 * to arrive in order. A jump is a gap (lost), one that fills a gap later is late. At the
 * end, what a sender sent beyond the highest number seen never arrived. So for every
 * (sender, receiver) pair: sent = delivered + gaps + never-arrived, with no double count.
 * An old number while no gap of that sender is open is a repeat (a server re-sending what
 * was not acknowledged in time): counted apart, not as a delivery.
 */
export class SequenceLedger {
  private readonly expected: Uint32Array;
  /** Gaps of each sender not filled yet. */
  private readonly open: Uint32Array;
  delivered = 0;
  repeated = 0;
  gaps = 0;
  late = 0;
  /** Stamps from senders outside this receiver's set: a server delivered to the wrong socket. */
  foreign = 0;

  constructor(
    readonly first: number,
    readonly stride: number,
    readonly senders: number,
  ) {
    this.expected = new Uint32Array(senders);
    this.open = new Uint32Array(senders);
  }

  /** Counts one arrival; false when it came from a sender this receiver should not hear, or is a repeat. */
  accept(sender: number, sequence: number): boolean {
    const offset = sender - this.first;
    const slot = offset / this.stride;
    if (offset < 0 || slot >= this.senders || slot !== Math.floor(slot)) {
      this.foreign++;
      return false;
    }
    const expected = this.expected[slot]!;
    if (sequence === expected) this.expected[slot] = expected + 1;
    else if (sequence > expected) {
      this.gaps += sequence - expected;
      this.open[slot]! += sequence - expected;
      this.expected[slot] = sequence + 1;
    } else if (this.open[slot]! > 0) {
      this.open[slot]!--;
      this.gaps--;
      this.late++;
    } else {
      this.repeated++;
      return false;
    }
    this.delivered++;
    return true;
  }

  /** Messages of sender slot `slot` accounted for: delivered or counted in a gap. */
  reached(slot: number): number {
    return this.expected[slot] ?? 0;
  }

  /** Messages never seen: what each sender sent beyond the highest number that arrived. */
  missing(sentBySlot: (slot: number) => number): number {
    let missing = 0;
    for (let slot = 0; slot < this.senders; slot++) missing += Math.max(0, sentBySlot(slot) - this.expected[slot]!);
    return missing;
  }
}
