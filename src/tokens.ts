import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Compares two secrets in time independent of where they differ and of their lengths. */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** HMAC-SHA256 of `data` in hex: Pusher's signatures, and webhook bodies. */
export function hmacHex(secret: string, data: string): string {
  return createHmac('sha256', secret).update(data).digest('hex');
}

/** A new temporary token: 128 random bits, URL-safe. */
export function newTemporaryToken(): string {
  return randomBytes(16).toString('base64url');
}
