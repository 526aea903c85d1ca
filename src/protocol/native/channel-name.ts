export const MAX_CHANNEL_LENGTH = 200;

// Control characters, lone surrogates and unassigned code points make names that logs,
// terminals and other clients cannot show faithfully.
const UNPRINTABLE = /[\p{Cc}\p{Cs}\p{Cn}]/u;

/** Why `name` is not an acceptable channel name, or undefined when it is. */
export function channelNameProblem(name: string): string | undefined {
  if (name.length > MAX_CHANNEL_LENGTH) return `Channel name is ${name.length} characters long; the limit is ${MAX_CHANNEL_LENGTH}.`;
  if (UNPRINTABLE.test(name)) return 'Channel name must be printable characters only (no control characters).';
  return undefined;
}
