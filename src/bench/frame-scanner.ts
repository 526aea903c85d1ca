/** WebSocket opcodes the scanner reports (RFC 6455 §5.2). */
export const Opcode = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/**
 * Called once per complete message: `payload[start, end)` holds its bytes, valid only
 * during the call (the buffer is reused for the next read).
 */
export type MessageHandler = (opcode: number, payload: Buffer, start: number, end: number) => void;

/** Largest message accepted; a server that sends more is broken or hostile. */
const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;

export class FrameError extends Error {
  override readonly name = 'FrameError';
}

/**
 * Splits the server → client byte stream into WebSocket messages without copying: frames
 * that lie whole inside one read are handed out in place, and only a frame cut by a read
 * boundary is copied into a carry buffer. Server frames are unmasked, so there is nothing
 * to transform. Fragmented messages (FIN = 0, then continuations) are joined; control
 * frames between fragments are reported as they come.
 */
export class FrameScanner {
  private carry: Buffer = Buffer.allocUnsafe(256);
  private carryLength = 0;
  private fragments: Buffer[] = [];
  private fragmentsLength = 0;
  private fragmentOpcode = -1;

  constructor(
    private readonly onMessage: MessageHandler,
    private readonly maxMessage = DEFAULT_MAX_MESSAGE,
  ) {}

  /** Bytes of an incomplete frame held back for the next read. */
  get pending(): number {
    return this.carryLength;
  }

  /** Scans `chunk[start, end)`; throws FrameError on a stream that is not valid WebSocket. */
  push(chunk: Buffer, start = 0, end = chunk.length): void {
    let pos = start;
    if (this.carryLength > 0) {
      pos = this.completeCarried(chunk, pos, end);
      if (pos < 0) return;
    }
    // The hot loop: whole frames inside this read, no copies.
    while (end - pos >= 2) {
      const headerLength = this.headerLength(chunk, pos);
      if (end - pos < headerLength) break;
      const frameLength = headerLength + this.payloadLength(chunk, pos);
      if (end - pos < frameLength) break;
      this.frame(chunk, pos, headerLength, frameLength);
      pos += frameLength;
    }
    if (pos < end) this.keep(chunk, pos, end);
  }

  /**
   * Finishes the frame begun in the carry buffer with bytes from `chunk`, taking only what
   * that frame needs. Returns where the chunk continues, or -1 when it was used up.
   */
  private completeCarried(chunk: Buffer, pos: number, end: number): number {
    pos = this.fill(2, chunk, pos, end);
    if (pos < 0) return -1;
    const headerLength = this.headerLength(this.carry, 0);
    pos = this.fill(headerLength, chunk, pos, end);
    if (pos < 0) return -1;
    const frameLength = headerLength + this.payloadLength(this.carry, 0);
    pos = this.fill(frameLength, chunk, pos, end);
    if (pos < 0) return -1;
    this.carryLength = 0;
    this.frame(this.carry, 0, headerLength, frameLength);
    return pos;
  }

  /**
   * Copies bytes from `chunk` until the carry holds `need` bytes. Returns where the chunk
   * continues, or -1 when it ran out first (everything it had is then carried).
   */
  private fill(need: number, chunk: Buffer, pos: number, end: number): number {
    const missing = need - this.carryLength;
    if (missing <= 0) return pos;
    if (need > this.carry.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.carry.length * 2));
      this.carry.copy(grown, 0, 0, this.carryLength);
      this.carry = grown;
    }
    const take = Math.min(missing, end - pos);
    chunk.copy(this.carry, this.carryLength, pos, pos + take);
    this.carryLength += take;
    return take === missing ? pos + take : -1;
  }

  private keep(chunk: Buffer, pos: number, end: number): void {
    const length = end - pos;
    if (length > this.carry.length) this.carry = Buffer.allocUnsafe(Math.max(length, this.carry.length * 2));
    chunk.copy(this.carry, 0, pos, end);
    this.carryLength = length;
  }

  private headerLength(buf: Buffer, pos: number): number {
    const second = buf[pos + 1]!;
    if (second & 0x80) throw new FrameError('the server sent a masked frame; servers must not mask (RFC 6455 §5.1)');
    const len7 = second & 0x7f;
    return len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
  }

  private payloadLength(buf: Buffer, pos: number): number {
    const len7 = buf[pos + 1]! & 0x7f;
    let length: number;
    if (len7 < 126) length = len7;
    else if (len7 === 126) length = buf.readUInt16BE(pos + 2);
    else {
      const high = buf.readUInt32BE(pos + 2);
      // Lengths past 2^53 cannot be counted exactly, and no bench frame comes near them.
      if (high > 0x1fffff) throw new FrameError('frame length does not fit in 53 bits');
      length = high * 0x1_0000_0000 + buf.readUInt32BE(pos + 6);
    }
    if (length > this.maxMessage) throw new FrameError(`frame of ${length} bytes is over the ${this.maxMessage}-byte limit`);
    return length;
  }

  private frame(buf: Buffer, pos: number, headerLength: number, frameLength: number): void {
    const first = buf[pos]!;
    if (first & 0x70) throw new FrameError('frame has reserved bits set (compression was not negotiated)');
    const fin = (first & 0x80) !== 0;
    const opcode = first & 0x0f;
    const start = pos + headerLength;
    const end = pos + frameLength;
    if (opcode >= 0x8) {
      if (!fin) throw new FrameError('control frame is fragmented');
      this.onMessage(opcode, buf, start, end);
      return;
    }
    if (opcode === Opcode.continuation) {
      if (this.fragmentOpcode < 0) throw new FrameError('continuation frame without a message to continue');
      this.addFragment(buf, start, end);
      if (fin) this.finishFragments();
      return;
    }
    if (this.fragmentOpcode >= 0) throw new FrameError('new message started before the fragmented one finished');
    if (fin) {
      this.onMessage(opcode, buf, start, end);
      return;
    }
    this.fragmentOpcode = opcode;
    this.addFragment(buf, start, end);
  }

  private addFragment(buf: Buffer, start: number, end: number): void {
    this.fragmentsLength += end - start;
    if (this.fragmentsLength > this.maxMessage) throw new FrameError(`message over the ${this.maxMessage}-byte limit`);
    this.fragments.push(Buffer.from(buf.subarray(start, end)));
  }

  private finishFragments(): void {
    const message = Buffer.concat(this.fragments, this.fragmentsLength);
    const opcode = this.fragmentOpcode;
    this.fragments = [];
    this.fragmentsLength = 0;
    this.fragmentOpcode = -1;
    this.onMessage(opcode, message, 0, message.length);
  }
}
