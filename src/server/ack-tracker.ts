import type { Logger } from '../log.js';

/** A recipient slot that acknowledged, left or was given up. Fds are never negative. */
const DONE = -1;

interface PendingMessage {
  readonly id: string;
  readonly frame: string;
  /**
   * Recipients by slot, DONE once settled: one array per message instead of a set entry per
   * recipient. Float64 because fds are never reused and may, in a long life, pass 2^31.
   */
  fds: Float64Array;
  /** Slots in use; `fds` may have room to spare. */
  slots: number;
  /** Slots not DONE: the message is finished at 0. */
  pending: number;
  resends: number;
  /** When it was first sent, in ms of the tracker's clock: its acknowledgments time the round trip. */
  readonly sentAt: number;
  /** When it was last sent (first sent, or re-sent). */
  lastSent: number;
  /** Where its last sending stands among all of this tracker's, which a socket receives in this order. */
  order: number;
  /** When the next re-send (or the give-up) is due, in ms of the tracker's clock. */
  due: number;
}

/** The longest wait before a re-send, in multiples of --ack-timeout, however slow acknowledgments get. */
const MAX_BACKOFF = 8;

/**
 * What one socket owes, as (message, slot) pairs in the order they were tracked, which is
 * the order the socket received them and, from a client that acknowledges as it reads, the
 * order acknowledgments come in. A pair whose slot is DONE is dead and skipped; two plain
 * arrays keep the pairs without an object each.
 */
interface SocketAcks {
  messages: PendingMessage[];
  slots: number[];
  head: number;
  /** Live pairs, and the bytes of their frames (shared frames counted per socket). */
  count: number;
  bytes: number;
  /** When it last acknowledged anything, and the latest `order` of what it acknowledged. */
  ackedAt: number;
  ackedOrder: number;
}

export interface AckTrackerOptions {
  attempts: number;
  intervalMs: number;
  /** Unacknowledged messages one socket may have; past either bound `overflow` is called. */
  maxPendingPerSocket: number;
  maxPendingBytesPerSocket: number;
  /** Re-sends a frame to one socket; false when that socket is gone. */
  resend(fd: number, frame: string): boolean;
  /** A socket passed its bound: it is no longer tracked, and the server closes it. */
  overflow(fd: number): void;
  /** One tick of the clock: resolves after about `delayMs` (a task in the pool). */
  wait(delayMs: number): Promise<unknown>;
  log: Logger;
  now?: () => number;
}

/**
 * Pending acknowledgments of this worker, per recipient. Messages wait about the same
 * interval, so the queue of pending messages is ordered by due time closely enough: one
 * clock tick (a single task in the pool, never one per message) re-sends whatever is due
 * at its front. What a socket may leave unacknowledged is bounded in count and bytes.
 *
 * The wait is --ack-timeout, or longer while acknowledgments take longer to come back (a
 * loaded server or network), as TCP times its retransmissions (RFC 6298, Karn's rule: only
 * frames sent once are timed). A fixed wait shorter than the round trip would re-send every
 * frame to every socket, and those re-sends would only add to the load that made them late;
 * a recipient that never acknowledges is still re-sent to at --ack-timeout, since the others'
 * acknowledgments keep the estimate near it.
 *
 * A broadcast to thousands of sockets is tracked and acknowledged without a hash entry or
 * an object per recipient: the message keeps its recipients in one typed array, and each
 * socket a queue of slots in which an in-order acknowledgment is found at the head.
 */
export class AckTracker {
  private readonly pending = new Map<string, PendingMessage>();
  /**
   * One entry per socket that owes or owed something. Kept when its last acknowledgment comes,
   * so a socket that keeps up is not added and deleted once per message; dropped when it closes.
   */
  private readonly bySocket = new Map<number, SocketAcks>();
  /** Pending messages in due order; finished ones are skipped when reached. */
  private queue: PendingMessage[] = [];
  private head = 0;
  private ticking = false;
  private readonly now: () => number;
  /** The shortest wait of one tick: due times closer together than this share a tick. */
  private readonly granularityMs: number;
  /** Deliveries given up after the last re-send, for metrics. */
  givenUp = 0;
  /** Sockets closed for leaving too much unacknowledged, for metrics. */
  overflowed = 0;
  /** Smoothed round trip of an acknowledgment and its variation, ms; 0 until the first sample. */
  private srtt = 0;
  /** Sendings so far (first sends and re-sends): the next `order`. */
  private sends = 0;
  private rttvar = 0;

  constructor(private readonly options: AckTrackerOptions) {
    this.now = options.now ?? Date.now;
    this.granularityMs = Math.max(5, options.intervalMs / 4);
  }

  /** Messages waiting for at least one acknowledgment. */
  get size(): number {
    return this.pending.size;
  }

  /** Tracks `id` for every fd of `fds` but `except`. */
  track(id: string, frame: string, fds: ReadonlySet<number> | readonly number[], except?: number): void {
    const known = this.pending.get(id);
    const room = 'length' in fds ? fds.length : fds.size;
    const now = this.now();
    const message = known ?? { id, frame, fds: new Float64Array(room), slots: 0, pending: 0, resends: 0, sentAt: now, lastSent: now, order: this.sends++, due: now + this.resendAfter() };
    // Tracked again (on another topic): the fds it already waits for are skipped. Rare, so a set.
    const already = known && new Set(known.fds.subarray(0, known.slots));
    if (known && known.fds.length < known.slots + room) {
      const grown = new Float64Array(known.slots + room);
      grown.set(known.fds.subarray(0, known.slots));
      known.fds = grown;
    }
    for (const fd of fds) {
      if (fd === except || already?.has(fd)) continue;
      const acks = this.socket(fd);
      if (acks.count >= this.options.maxPendingPerSocket || acks.bytes + message.frame.length > this.options.maxPendingBytesPerSocket) {
        this.overflowed++;
        this.forget(fd);
        this.options.overflow(fd);
        continue;
      }
      const slot = message.slots++;
      message.fds[slot] = fd;
      message.pending++;
      if (acks.messages.length >= 2 * acks.count + 64) compact(acks);
      acks.messages.push(message);
      acks.slots.push(slot);
      acks.count++;
      acks.bytes += message.frame.length;
    }
    if (known || message.pending === 0) return;
    this.pending.set(id, message);
    this.queue.push(message);
    this.tick();
  }

  acknowledge(fd: number, id: string): void {
    const acks = this.bySocket.get(fd);
    if (!acks || acks.count === 0) return;
    skipDead(acks);
    let at = acks.head;
    // Out of order (or a duplicate, or unknown): look the message up, then its pair.
    if (acks.messages[at]!.id !== id) {
      const message = this.pending.get(id);
      if (!message) return;
      const end = acks.messages.length;
      while (at < end && !(acks.messages[at] === message && message.fds[acks.slots[at]!] !== DONE)) at++;
      if (at === end) return;
    }
    const message = acks.messages[at]!;
    message.fds[acks.slots[at]!] = DONE;
    acks.count--;
    acks.bytes -= message.frame.length;
    if (at === acks.head) acks.head++;
    const now = this.now();
    acks.ackedAt = now;
    if (message.order > acks.ackedOrder) acks.ackedOrder = message.order;
    if (message.resends === 0) this.sample(now - message.sentAt);
    if (--message.pending === 0) this.pending.delete(message.id);
  }

  /** How long a frame waits for its acknowledgment before it is re-sent. */
  resendAfter(): number {
    const { intervalMs } = this.options;
    return Math.min(MAX_BACKOFF * intervalMs, Math.max(intervalMs, this.srtt + 4 * this.rttvar));
  }

  private sample(rtt: number): void {
    if (this.srtt === 0) {
      this.srtt = rtt;
      this.rttvar = rtt / 2;
      return;
    }
    this.rttvar += (Math.abs(this.srtt - rtt) - this.rttvar) / 4;
    this.srtt += (rtt - this.srtt) / 8;
  }

  /** A socket closed: stop re-sending to it. */
  forget(fd: number): void {
    const acks = this.bySocket.get(fd);
    if (!acks) return;
    this.bySocket.delete(fd);
    for (let i = acks.head; i < acks.messages.length; i++) {
      const message = acks.messages[i]!;
      const slot = acks.slots[i]!;
      if (message.fds[slot] === DONE) continue;
      message.fds[slot] = DONE;
      if (--message.pending === 0) this.pending.delete(message.id);
    }
  }

  private socket(fd: number): SocketAcks {
    let acks = this.bySocket.get(fd);
    if (!acks) this.bySocket.set(fd, (acks = { messages: [], slots: [], head: 0, count: 0, bytes: 0, ackedAt: -Infinity, ackedOrder: -1 }));
    return acks;
  }

  /** Starts the clock when something waits and no tick is under way. */
  private tick(): void {
    if (this.ticking) return;
    const next = this.front();
    if (!next) return;
    this.ticking = true;
    const delay = Math.max(this.granularityMs, next.due - this.now());
    this.options.wait(delay).then(
      () => this.fire(),
      (error: unknown) => {
        // The pool failed: keep the promise of re-sends with a local timer rather than drop it.
        this.options.log.error({ err: error }, 'ack clock task failed; using a local timer');
        setTimeout(() => this.fire(), delay).unref();
      },
    );
  }

  /** The first unfinished message of the queue, dropping finished ones before it. */
  private front(): PendingMessage | undefined {
    while (this.head < this.queue.length && this.queue[this.head]!.pending === 0) this.head++;
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
      return undefined;
    }
    // Compact now and then so the array does not keep every message ever queued.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return this.queue[this.head];
  }

  private fire(): void {
    this.ticking = false;
    const now = this.now();
    // Due within half a tick counts as due now: waiting another whole tick would be later still.
    const horizon = now + this.granularityMs / 2;
    const wait = this.resendAfter();
    const requeue: PendingMessage[] = [];
    for (let message = this.front(); message && message.due <= horizon; message = this.front()) {
      this.head++;
      // The round trip grew since it was queued: its acknowledgments may still be on their way.
      if (message.lastSent + wait > horizon) {
        message.due = message.lastSent + wait;
        requeue.push(message);
        continue;
      }
      if (message.resends >= this.options.attempts) {
        this.giveUp(message);
        continue;
      }
      // A failed re-send forgets its socket, which only marks slots DONE: the walk stays valid.
      let resent = false;
      for (let slot = 0; slot < message.slots; slot++) {
        const fd = message.fds[slot]!;
        if (fd === DONE || this.catchingUp(fd, message, now - wait)) continue;
        resent = true;
        if (!this.options.resend(fd, message.frame)) this.forget(fd);
      }
      // Only a re-send made counts as an attempt: a message every recipient of which is still reading its way to it just waits.
      if (resent) {
        message.resends++;
        message.lastSent = now;
        message.order = this.sends++;
      }
      message.due = now + wait;
      if (message.pending > 0) requeue.push(message);
    }
    // Later due times than any queued so far, but for the few postponed ones, which come close.
    for (const message of requeue) this.queue.push(message);
    this.tick();
  }

  /**
   * A socket that acknowledged something in the last wait, but nothing sent after `message`,
   * is reading its way through what it was sent, in order: a re-send would only queue behind
   * the original. One that acknowledged something later skipped it; one silent for a whole
   * wait gets the re-send too.
   */
  private catchingUp(fd: number, message: PendingMessage, since: number): boolean {
    const acks = this.bySocket.get(fd);
    return acks !== undefined && acks.ackedAt > since && acks.ackedOrder < message.order;
  }

  private giveUp(message: PendingMessage): void {
    this.givenUp += message.pending;
    this.options.log.debug({ id: message.id, recipients: message.pending }, 'acknowledgment given up');
    for (let slot = 0; slot < message.slots; slot++) {
      const fd = message.fds[slot]!;
      if (fd === DONE) continue;
      message.fds[slot] = DONE;
      const acks = this.bySocket.get(fd)!;
      acks.count--;
      acks.bytes -= message.frame.length;
      // A socket that never acknowledges anything should not keep an entry until it closes.
      if (acks.count === 0) this.bySocket.delete(fd);
    }
    message.pending = 0;
    this.pending.delete(message.id);
  }
}

/** Moves the head past dead pairs, which acknowledgments out of order and give-ups leave. */
function skipDead(acks: SocketAcks): void {
  const { messages, slots } = acks;
  while (acks.head < messages.length && messages[acks.head]!.fds[slots[acks.head]!] === DONE) acks.head++;
}

/**
 * Drops dead pairs in place, those before the head included: called when they are as many as
 * the live ones (and a few), so the queue stays within twice what the socket owes and the
 * copying costs about one move per pair pushed.
 */
function compact(acks: SocketAcks): void {
  const { messages, slots } = acks;
  let kept = 0;
  for (let i = acks.head; i < messages.length; i++) {
    if (messages[i]!.fds[slots[i]!] === DONE) continue;
    messages[kept] = messages[i]!;
    slots[kept++] = slots[i]!;
  }
  messages.length = slots.length = kept;
  acks.head = 0;
}
