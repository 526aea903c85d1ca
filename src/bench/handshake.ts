import { createHash, randomBytes } from 'node:crypto';

const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HEADER_END = Buffer.from('\r\n\r\n');
/** A 101 answer is a few hundred bytes; more without its end means it is not HTTP. */
const MAX_RESPONSE_HEADER = 16 * 1024;

export interface UpgradeRequest {
  readonly bytes: Buffer;
  /** What the server must answer in Sec-WebSocket-Accept. */
  readonly expectedAccept: string;
}

/** The HTTP/1.1 upgrade request a browser would send, minus what servers do not need. */
export function upgradeRequest(host: string, path: string, subprotocol: string | undefined): UpgradeRequest {
  const key = randomBytes(16).toString('base64');
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    ...(subprotocol ? [`Sec-WebSocket-Protocol: ${subprotocol}`] : []),
  ];
  return {
    bytes: Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'),
    expectedAccept: createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64'),
  };
}

export type UpgradeOutcome =
  /** `rest` holds bytes after the header: the server's first frames. */
  | { kind: 'upgraded'; rest: Buffer }
  | { kind: 'refused'; reason: string }
  | { kind: 'incomplete' };

/**
 * Reads the server's answer to the upgrade from everything received so far. Anything
 * but a 101 with the right accept key is a refusal, with the status line as its reason.
 */
export function parseUpgradeResponse(received: Buffer, expectedAccept: string): UpgradeOutcome {
  const end = received.indexOf(HEADER_END);
  if (end < 0) {
    return received.length > MAX_RESPONSE_HEADER ? { kind: 'refused', reason: 'answer to the upgrade is not HTTP' } : { kind: 'incomplete' };
  }
  const lines = received.subarray(0, end).toString('latin1').split('\r\n');
  const status = lines[0] ?? '';
  if (!/^HTTP\/1\.1 101\b/.test(status)) return { kind: 'refused', reason: `handshake refused: ${status.slice(0, 80) || 'empty answer'}` };
  const accept = lines.find((l) => /^sec-websocket-accept:/i.test(l))?.split(':')[1]?.trim();
  if (accept !== expectedAccept) return { kind: 'refused', reason: 'handshake answered with a wrong Sec-WebSocket-Accept' };
  return { kind: 'upgraded', rest: received.subarray(end + HEADER_END.length) };
}
