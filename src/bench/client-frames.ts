import { Opcode } from './frame-scanner.js';

/**
 * Client → server frames. Clients must mask (RFC 6455 §5.3) but the key is theirs to
 * choose: an all-zero key leaves the payload as it is, so a frame is a header plus the
 * bytes, with no per-byte XOR on the generator's side.
 */
export function headerLength(payloadLength: number): number {
  return (payloadLength < 126 ? 2 : payloadLength < 0x10000 ? 4 : 10) + 4;
}

/** Writes a masked (zero key) frame header at `offset`; returns where the payload goes. */
export function writeHeader(target: Buffer, offset: number, opcode: number, payloadLength: number): number {
  target[offset++] = 0x80 | opcode;
  if (payloadLength < 126) {
    target[offset++] = 0x80 | payloadLength;
  } else if (payloadLength < 0x10000) {
    target[offset++] = 0x80 | 126;
    target.writeUInt16BE(payloadLength, offset);
    offset += 2;
  } else {
    target[offset++] = 0x80 | 127;
    target.writeUInt32BE(Math.floor(payloadLength / 0x1_0000_0000), offset);
    target.writeUInt32BE(payloadLength >>> 0, offset + 4);
    offset += 8;
  }
  target.writeUInt32BE(0, offset);
  return offset + 4;
}

/** One whole client frame. */
export function encodeFrame(opcode: number, payload: Buffer | string): Buffer {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const frame = Buffer.allocUnsafe(headerLength(bytes.length) + bytes.length);
  bytes.copy(frame, writeHeader(frame, 0, opcode, bytes.length));
  return frame;
}

export const encodeText = (text: string): Buffer => encodeFrame(Opcode.text, text);

/** The answer to a ping carries the ping's payload back. */
export const encodePong = (payload: Buffer): Buffer => encodeFrame(Opcode.pong, payload);

/** A normal close (1000). */
export function encodeClose(code = 1000): Buffer {
  const body = Buffer.allocUnsafe(2);
  body.writeUInt16BE(code, 0);
  return encodeFrame(Opcode.close, body);
}
