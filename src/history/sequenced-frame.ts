/**
 * A channel frame as history keeps it: the envelope with `"seq":S` after `fd` and without the
 * acknowledgment id, which each delivery gets afresh.
 */


/**
 * A frame published with `ackId` (or none) without its id and closing brace: where `"seq"`
 * goes (the Redis script closes it with the seq it assigns).
 */
export function openFrame(frame: string, ackId: string | undefined): string {
  const suffix = ackId === undefined ? '}' : `,"id":${JSON.stringify(ackId)}}`;
  return frame.endsWith(suffix) ? frame.slice(0, frame.length - suffix.length) : frame.slice(0, -1);
}

/** Adds `"seq":seq` to a frame published with `ackId` (or none); returns the kept frame. */
export function keptFrame(frame: string, seq: number, ackId: string | undefined): string {
  return `${openFrame(frame, ackId)},"seq":${seq}}`;
}

/** A kept frame as it goes out: with a fresh acknowledgment id when there is one. */
export function withId(kept: string, ackId: string | undefined): string {
  return ackId === undefined ? kept : `${kept.slice(0, -1)},"id":${JSON.stringify(ackId)}}`;
}

/**
 * Bytes of frames one part of a history read carries at most (a single larger frame goes
 * alone): a replay of a deep channel goes to its reader part by part, each asked for once the
 * reader took the one before.
 */
export const REPLAY_MAX_PART_BYTES = 1024 * 1024;

/** Part size of a rejoin's replay: the next part is asked for once the socket drained below it. */
export const REPLAY_SOCKET_PART_BYTES = 256 * 1024;

/** What a recovering joiner is told first, and the frames that follow it. */
export interface Replay {
  channel: string;
  epoch: string;
  /** The channel's latest seq at the join. */
  seq: number;
  recovered: boolean;
  /** Kept frames, oldest first. */
  frames: string[];
  /**
   * Set when `frames` is the first part only (the request's `maxBytes` was reached): the seq
   * of its last frame, from which the reader asks for the rest.
   */
  next?: number;
  /** With `next`: how many frames the whole replay, up to `seq`, has. */
  total?: number;
}

export interface ReplayRequest {
  channel: string;
  since: number;
  epoch?: string | undefined;
  limit?: number | undefined;
  /** Bytes of frames one answer carries at most (always at least one frame): the rest is asked for from `next`. */
  maxBytes?: number | undefined;
}

/**
 * Picks what to replay from the kept frames (seq ascending) of a channel at `latest`, by
 * PROTOCOL.md's rules: every frame after `since` when they are all kept; otherwise every kept
 * frame of the epoch, with `recovered` false. `limit` keeps the last K.
 */
export function pickReplay(request: ReplayRequest, epoch: string, latest: number, kept: { seq: number; frame: string }[]): Replay {
  const sameEpoch = (request.epoch === undefined || request.epoch === epoch) && request.since <= latest;
  let frames = sameEpoch ? kept.filter((f) => f.seq > request.since) : kept;
  let recovered = sameEpoch && (request.since === latest || (frames.length > 0 && frames[0]!.seq === request.since + 1));
  if (request.limit !== undefined && frames.length > request.limit) {
    frames = request.limit === 0 ? [] : frames.slice(-request.limit);
    recovered = false;
  }
  const replay: Replay = { channel: request.channel, epoch, seq: latest, recovered, frames: frames.map((f) => f.frame) };
  return request.maxBytes === undefined ? replay : firstPart(replay, frames, request.maxBytes);
}

/** Cuts a replay to its oldest frames within `maxBytes`, at least one, saying where the rest starts. */
function firstPart(replay: Replay, frames: { seq: number; frame: string }[], maxBytes: number): Replay {
  let bytes = 0;
  let count = 0;
  while (count < frames.length && (count === 0 || bytes + frames[count]!.frame.length <= maxBytes)) bytes += frames[count++]!.frame.length;
  if (count === frames.length) return replay;
  return { ...replay, frames: replay.frames.slice(0, count), next: frames[count - 1]!.seq, total: frames.length };
}
