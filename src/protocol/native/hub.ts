/** Where a reconnecting client stopped in a channel: `channel-connect` with `since`. */
export interface Recovery {
  since: number;
  epoch?: string;
  limit?: number;
}

/** One socket's protocol state. */
export interface Session {
  readonly fd: number;
  channel: string | null;
  userId: string | number | undefined;
}

export interface ProtocolOptions {
  token: string | undefined;
  broadcastSelf: boolean;
  ack: boolean;
}

/**
 * What actions may do, and nothing more: the event server implements it over uWS topics,
 * the bus, the registry and the task pool. Actions never see a socket.
 */
export interface Hub {
  readonly options: ProtocolOptions;
  /** A fresh message id when acknowledgments are on. */
  newAckId(): string | undefined;
  /** Sends a frame to one socket; with `ackId` it is re-sent until acknowledged. */
  send(session: Session, frame: string, ackId?: string): void;
  /**
   * Sends a frame to a topic's subscribers on every worker, `except` excluded. False when
   * it was refused whole because the link to the other workers is full for its sender
   * (`from`, or `except`; none for HTTP publishes).
   */
  publish(topic: string, frame: string, options?: { except?: Session; from?: Session; ackId?: string }): boolean;
  /** Joins a channel; with `recovery` (and --history) the joiner first gets what it missed since then. */
  join(session: Session, channel: string, recovery?: Recovery): Promise<void>;
  leave(session: Session): Promise<void>;
  assoc(session: Session, userId: string | number): Promise<void>;
  consumeToken(token: string, channel: string): Promise<boolean>;
  /**
   * Sends `data` as a fanout frame of `session` to every open socket, after every output the
   * session made before and before every one it makes after. When the session has too many
   * fanouts being planned, the frame is refused: the answer is then the reason, for the client.
   */
  fanout(session: Session, data: unknown, dataBytes: number): string | undefined;
  acknowledge(session: Session, id: string): void;
}
