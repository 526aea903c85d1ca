/** Bytes counted for a message that carries no frame (a request, a count). */
export const SMALL_MESSAGE_BYTES = 64;

/**
 * About how many bytes `value` takes as JSON, without serialising it: strings count their
 * length (escapes aside), and every message between processes is sized this way, so that an
 * answer of 60 MB counts 60 MB towards the queues' bounds, not the 64 bytes of a request.
 * Depth is bounded by what the server accepts (--max-json-depth) plus its own envelopes.
 */
export function jsonSize(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return value.length + 2;
    case 'number':
      return 8;
    case 'boolean':
      return 5;
    case 'object': {
      if (value === null) return 4;
      let bytes = 2;
      if (Array.isArray(value)) {
        for (const item of value) bytes += jsonSize(item) + 1;
        return bytes;
      }
      for (const key in value) bytes += key.length + 4 + jsonSize((value as Record<string, unknown>)[key]);
      return bytes;
    }
    default:
      return 0;
  }
}

/** A message's size: a publication by its frame (the hot path sizes nothing else), the rest walked. */
export function messageSize(message: { type: string; publication?: { frame: string } }): number {
  return message.publication !== undefined ? message.publication.frame.length + SMALL_MESSAGE_BYTES : Math.max(SMALL_MESSAGE_BYTES, jsonSize(message));
}
