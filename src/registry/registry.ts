import type { ServerStats } from '../ipc/messages.js';

/**
 * Global membership, user ids and temporary tokens, as an event worker sees them. The
 * primary's in-memory registry answers over IPC; a Redis registry plugs in here.
 */
export interface Registry {
  /** A socket opened; `address` is given when connections per address are limited (see admitAddress). */
  open(fd: number, address?: string): void;
  close(fd: number): void;
  join(fd: number, channel: string): Promise<void>;
  leave(fd: number): Promise<void>;
  assoc(fd: number, userId: string | number): Promise<void>;
  /** A new temporary token, or the seconds to wait when the server holds its maximum. */
  mintToken(channel: string | null): Promise<{ token: string } | { retryAfter: number }>;
  /** True when a temporary token admits a handshake (a channel-less one is spent by it). */
  admitToken(token: string): Promise<boolean>;
  /** Spends a temporary token on channel-connect; true when it was minted for `channel`. */
  consumeToken(token: string, channel: string): Promise<boolean>;
  hasMembers(channel: string): Promise<boolean>;
  /**
   * Reserves a connection for `address` unless it already has `limit` open or reserved.
   * The reservation becomes the socket at open(fd, address), or is given back by releaseAddress.
   */
  admitAddress(address: string, limit: number): Promise<boolean>;
  releaseAddress(address: string): void;
  stats(): Promise<ServerStats>;
}
