import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { Opcode as Op } from '../../src/bench/frame-scanner.js';

export { Op };

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  /** Defaults to true; false starts or continues a fragmented message. */
  fin?: boolean;
  /** Defaults to true: clients must mask (RFC 6455 5.1); false builds an illegal frame. */
  masked?: boolean;
  /** RSV1..3 as a 3-bit number (0 unless a test breaks the rules on purpose). */
  rsv?: number;
  /** Announced payload length when it must differ from the real one (a lying header). */
  declaredLength?: bigint | number;
  maskKey?: Buffer;
}

/** One client frame, byte for byte as a test wants it, legal or not. */
export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload, 'utf8') : (spec.payload ?? Buffer.alloc(0));
  const masked = spec.masked ?? true;
  const length = BigInt(spec.declaredLength ?? payload.length);
  const head: number[] = [((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | spec.opcode];
  const maskBit = masked ? 0x80 : 0;
  let extended = Buffer.alloc(0);
  if (length < 126n) head.push(maskBit | Number(length));
  else if (length < 0x10000n) {
    head.push(maskBit | 126);
    extended = Buffer.alloc(2);
    extended.writeUInt16BE(Number(length));
  } else {
    head.push(maskBit | 127);
    extended = Buffer.alloc(8);
    extended.writeBigUInt64BE(length);
  }
  if (!masked) return Buffer.concat([Buffer.from(head), extended, payload]);
  const key = spec.maskKey ?? randomBytes(4);
  const body = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) body[i] = payload[i]! ^ key[i & 3]!;
  return Buffer.concat([Buffer.from(head), extended, key, body]);
}

/** A close frame's payload: the 2-byte code and a reason (raw bytes allowed, to send invalid UTF-8). */
export function closePayload(code: number, reason: Buffer | string = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code);
  return Buffer.concat([head, typeof reason === 'string' ? Buffer.from(reason, 'utf8') : reason]);
}

export interface ServerFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** The code of a close frame's payload, or undefined when it has none. */
export function closeCodeOf(frame: ServerFrame): number | undefined {
  return frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : undefined;
}

/**
 * A WebSocket client over a bare TCP socket: the handshake is written by hand, every frame
 * sent is built by `encodeFrame`, and every server frame is kept as parsed, so a test can
 * send what no conforming client library would and see exactly what comes back.
 */
export class RawWebSocket {
  /** Every frame the server sent, in order. */
  readonly frames: ServerFrame[] = [];
  /** Resolves when the server ended its side of the TCP connection (FIN or reset). */
  readonly ended: Promise<void>;
  /** Resolves when the TCP socket is fully closed. */
  readonly closed: Promise<void>;
  isClosed = false;
  /** Bytes that followed the last whole frame; non-empty at close means a truncated frame. */
  private pending: Buffer = Buffer.alloc(0);
  private cursor = 0;
  private waiter: (() => void) | undefined;

  private constructor(readonly socket: Socket) {
    this.ended = new Promise((resolve) => {
      socket.once('end', () => resolve());
      socket.once('close', () => resolve());
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        this.waiter?.();
        resolve();
      }),
    );
    // A reset from the server is an outcome tests assert on, not an unhandled error.
    socket.on('error', () => {});
  }

  /** Opens a TCP connection to 127.0.0.1:port and completes the opening handshake. */
  static async connect(port: number, options: { path?: string; protocol?: string; timeoutMs?: number } = {}): Promise<RawWebSocket> {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    const key = randomBytes(16).toString('base64');
    const timeoutMs = options.timeoutMs ?? 5000;
    const head = await new Promise<{ head: string; rest: Buffer }>((resolve, reject) => {
      let buffered = Buffer.alloc(0);
      const timer = setTimeout(() => fail(new Error(`no handshake answer within ${timeoutMs} ms`)), timeoutMs);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        socket.off('data', onData);
        socket.destroy();
        reject(error);
      };
      const onData = (chunk: Buffer): void => {
        buffered = Buffer.concat([buffered, chunk]);
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        clearTimeout(timer);
        socket.off('data', onData);
        resolve({ head: buffered.subarray(0, end).toString('latin1'), rest: buffered.subarray(end + 4) });
      };
      socket.on('data', onData);
      socket.once('error', (error) => fail(error));
      socket.once('connect', () => {
        socket.write(
          [
            `GET ${options.path ?? '/'} HTTP/1.1`,
            `Host: 127.0.0.1:${port}`,
            'Upgrade: websocket',
            'Connection: Upgrade',
            `Sec-WebSocket-Key: ${key}`,
            'Sec-WebSocket-Version: 13',
            ...(options.protocol === undefined ? [] : [`Sec-WebSocket-Protocol: ${options.protocol}`]),
            '',
            '',
          ].join('\r\n'),
        );
      });
    });
    const lines = head.head.split('\r\n');
    if (!/^HTTP\/1\.1 101 /.test(lines[0] ?? '')) {
      socket.destroy();
      throw new Error(`handshake refused: ${head.head}`);
    }
    const accept = lines.find((l) => l.toLowerCase().startsWith('sec-websocket-accept:'))?.slice('sec-websocket-accept:'.length).trim();
    const expected = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    if (accept !== expected) {
      socket.destroy();
      throw new Error(`wrong Sec-WebSocket-Accept ${accept}, expected ${expected}`);
    }
    const raw = new RawWebSocket(socket);
    socket.on('data', (chunk: Buffer) => raw.receive(chunk));
    if (head.rest.length > 0) raw.receive(head.rest);
    return raw;
  }

  /** Writes bytes as they are (one frame, several, or a part of one). */
  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  send(spec: FrameSpec): void {
    this.write(encodeFrame(spec));
  }

  /** The next server frame after the last one returned that matches, waiting up to `timeoutMs`. */
  async next(match: (frame: ServerFrame) => boolean = () => true, timeoutMs = 5000): Promise<ServerFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.frames.length) {
        const frame = this.frames[this.cursor++]!;
        if (match(frame)) return frame;
      }
      if (this.isClosed) throw new Error(`TCP connection closed while waiting; frames: ${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; frames: ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** The next text frame's payload as a string. */
  async nextText(timeoutMs = 5000): Promise<string> {
    const frame = await this.next(() => true, timeoutMs);
    if (frame.opcode !== Op.text) throw new Error(`expected a text frame, got ${this.describeFrame(frame)}`);
    return frame.payload.toString('utf8');
  }

  /** Frames received but not yet returned by `next`. */
  unread(): ServerFrame[] {
    return this.frames.slice(this.cursor);
  }

  /** Waits for the TCP close (bounded), then returns every frame not yet read. */
  async rest(timeoutMs = 5000): Promise<ServerFrame[]> {
    let timer: NodeJS.Timeout | undefined;
    const closedInTime = await Promise.race([
      this.closed.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!closedInTime) throw new Error(`the server kept the TCP connection open for ${timeoutMs} ms; frames: ${this.describe()}`);
    const rest = this.unread();
    this.cursor = this.frames.length;
    return rest;
  }

  /** Bytes left over after the last whole frame. */
  get trailingBytes(): number {
    return this.pending.length;
  }

  destroy(): void {
    this.socket.destroy();
  }

  describe(): string {
    return this.frames.map((f) => this.describeFrame(f)).join(', ') || '(none)';
  }

  describeFrame(frame: ServerFrame): string {
    if (frame.opcode === Op.close) return `close(${closeCodeOf(frame) ?? 'no code'}${frame.payload.length > 2 ? `, ${JSON.stringify(frame.payload.subarray(2).toString())}` : ''})`;
    const body = frame.opcode === Op.text ? JSON.stringify(frame.payload.toString('utf8').slice(0, 200)) : frame.payload.toString('hex').slice(0, 64);
    return `op${frame.opcode}${frame.fin ? '' : '(fin=0)'}:${body}`;
  }

  private receive(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      const frame = this.parseOne();
      if (!frame) break;
      this.frames.push(frame);
    }
    this.waiter?.();
  }

  private parseOne(): ServerFrame | undefined {
    const b = this.pending;
    if (b.length < 2) return undefined;
    const masked = (b[1]! & 0x80) !== 0;
    let length = b[1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (b.length < 4) return undefined;
      length = b.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (b.length < 10) return undefined;
      length = Number(b.readBigUInt64BE(2));
      offset = 10;
    }
    const maskKey = masked ? b.subarray(offset, offset + 4) : undefined;
    if (masked) offset += 4;
    if (b.length < offset + length) return undefined;
    const payload = Buffer.from(b.subarray(offset, offset + length));
    if (maskKey) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ maskKey[i & 3]!;
    this.pending = b.subarray(offset + length);
    return { fin: (b[0]! & 0x80) !== 0, rsv: (b[0]! >> 4) & 7, opcode: b[0]! & 0x0f, masked, payload };
  }
}
