/**
 * The stamp every measured message carries in its payload, so that a receiver learns from
 * the message alone when it was due to be sent, by whom, and its place in that sender's
 * sequence:
 *
 *     ~TTTTTTTTTTTPPPPPSSSSSSSSS then padding up to the payload size
 *
 * T: microseconds since the run's epoch (11 digits: 27 hours), P: sender index (5 digits),
 * S: sequence number (9 digits). Fixed-width ASCII digits survive every server's JSON
 * round trip unchanged and parse with no allocation. `~` marks the start: no envelope of
 * the servers compared here contains it.
 */
export const STAMP_MARK = 0x7e;
const TIME_DIGITS = 11;
const SENDER_DIGITS = 5;
const SEQUENCE_DIGITS = 9;
export const STAMP_LENGTH = 1 + TIME_DIGITS + SENDER_DIGITS + SEQUENCE_DIGITS;
export const MAX_SENDERS = 10 ** SENDER_DIGITS;
const PAD = 0x78; // 'x'

/** The smallest --payload that still holds a stamp. */
export const MIN_PAYLOAD = 32;

/** Fills `target[offset, offset + size)` with a stamp and padding. */
export function writeStamp(target: Buffer, offset: number, size: number, micros: number, sender: number, sequence: number): void {
  target[offset] = STAMP_MARK;
  writeDigits(target, offset + 1, TIME_DIGITS, Math.max(0, Math.round(micros)));
  writeDigits(target, offset + 1 + TIME_DIGITS, SENDER_DIGITS, sender);
  writeDigits(target, offset + 1 + TIME_DIGITS + SENDER_DIGITS, SEQUENCE_DIGITS, sequence);
  target.fill(PAD, offset + STAMP_LENGTH, offset + size);
}

/** Rewrites only the time and sequence of a stamp already in place (the hot path of senders). */
export function restamp(target: Buffer, offset: number, micros: number, sequence: number): void {
  writeDigits(target, offset + 1, TIME_DIGITS, Math.max(0, Math.round(micros)));
  writeDigits(target, offset + 1 + TIME_DIGITS + SENDER_DIGITS, SEQUENCE_DIGITS, sequence);
}

function writeDigits(target: Buffer, offset: number, width: number, value: number): void {
  for (let i = offset + width - 1; i >= offset; i--) {
    target[i] = 0x30 + (value % 10);
    value = Math.floor(value / 10);
  }
}

function readDigits(source: Buffer, offset: number, width: number): number {
  let value = 0;
  for (let i = offset; i < offset + width; i++) {
    const digit = source[i]! - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/** The fields of a stamp at `offset` (where its `~` is); sender -1 when it is not a stamp. */
export class StampReader {
  micros = 0;
  sender = -1;
  sequence = 0;

  read(source: Buffer, offset: number, end: number): boolean {
    this.sender = -1;
    if (end - offset < STAMP_LENGTH || source[offset] !== STAMP_MARK) return false;
    const micros = readDigits(source, offset + 1, TIME_DIGITS);
    const sender = readDigits(source, offset + 1 + TIME_DIGITS, SENDER_DIGITS);
    const sequence = readDigits(source, offset + 1 + TIME_DIGITS + SENDER_DIGITS, SEQUENCE_DIGITS);
    if (micros < 0 || sender < 0 || sequence < 0) return false;
    this.micros = micros;
    this.sender = sender;
    this.sequence = sequence;
    return true;
  }
}

/** A monotonic clock shared by every thread and process of the machine (CLOCK_MONOTONIC), in µs. */
export function monotonicMicros(): number {
  const [seconds, nanos] = process.hrtime();
  return seconds * 1e6 + nanos / 1e3;
}
