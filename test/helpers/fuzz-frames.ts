import type { Prng } from './prng.js';

/**
 * Hostile client frames and, for each, the answer PROTOCOL.md prescribes. The expectation
 * is computed from the bytes actually sent (parsed here the way the server must parse
 * them), so a mutated frame is judged as strictly as a hand-written one.
 */

/** The built-in actions of PROTOCOL.md. */
export const ACTIONS = [
  'base-action',
  'channel-connect',
  'channel-disconnect',
  'broadcast-action',
  'fanout-action',
  'acknowledge-action',
  'assoc-user-to-fd-action',
] as const;

/** PHP's texts (PROTOCOL.md, Errors), answered in the action's own envelope. */
const MISSING = {
  channel: 'Channel connection must specify "channel"!',
  broadcastData: "BroadcastAction required 'data' field to be created!",
  baseData: "BaseAction required 'data' field to be created!",
  fanoutData: "FanoutAction required 'data' field to be created!",
  ackData: "AcknowledgeAction required 'data' field to be created!",
  userId: 'The userId is required to associate connection to team!',
} as const;

export interface FuzzFrame {
  /** What produced it, for failure messages and the tally. */
  kind: string;
  bytes: Buffer;
  binary: boolean;
}

/**
 * One frame the server may answer with: an exact text, or any `error` frame to the sender
 * (its wording is not part of the contract).
 */
export type Reply = { exact: string } | { error: true };

/** The sender's possible answers; each alternative is the whole list of frames, in order. */
export type Expectation = Reply[][];

/** What a frame does to its socket beyond an answer. */
export type Fate = 'served' | 'closed: over --max-payload' | 'closed: invalid UTF-8';

export function envelope(action: string, data: unknown, fd?: number): string {
  return JSON.stringify({ action, data, fd });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function fateOf(frame: FuzzFrame, maxPayload: number): Fate {
  if (frame.bytes.length > maxPayload) return 'closed: over --max-payload';
  if (!frame.binary) {
    try {
      utf8.decode(frame.bytes);
    } catch {
      return 'closed: invalid UTF-8';
    }
  }
  return 'served';
}

/** Nesting depth of a parsed value (a scalar is 0), without recursion: fuzz frames nest thousands deep. */
function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    deepest = Math.max(deepest, d + 1);
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return deepest;
}

const isSet = (v: unknown): boolean => v !== undefined && v !== null;

/** A name every channel-name rule must accept: short, lower-case letters, digits and dots. */
const PLAIN_NAME = /^[a-z0-9.]{1,64}$/;

/**
 * The frames the sender gets for `frame`, per PROTOCOL.md. Where the contract leaves a
 * choice (the depth of text that is not JSON, channel-name rules, unusual user ids), every
 * permitted answer is listed.
 */
export function expectedReplies(frame: FuzzFrame, fd: number, maxDepth: number): Expectation {
  if (frame.binary) return [[]];
  const text = frame.bytes.toString('utf8');
  const error: Reply = { error: true };
  const echoText: Reply = { exact: envelope('base-action', text, fd) };
  let parsed: unknown;
  let isJson = true;
  try {
    parsed = JSON.parse(text);
  } catch {
    isJson = false;
  }
  if (!isJson) {
    // Bracket nesting in text that is not JSON has no defined depth: refused or echoed.
    return /[[{]/.test(text) ? [[echoText], [error]] : [[echoText]];
  }
  if (depthOf(parsed) > maxDepth) return [[error]];
  if (typeof parsed !== 'object' || parsed === null) return [[echoText]];
  if (Array.isArray(parsed)) return [[error]];
  const f = parsed as Record<string, unknown>;
  const action = f['action'];
  if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action)) return [[error]];
  // A client id is acknowledged before the frame is acted on (PROTOCOL.md, Acknowledgments).
  const id = f['id'];
  const ack: Reply[] =
    action !== 'acknowledge-action' && (typeof id === 'string' || typeof id === 'number')
      ? [{ exact: JSON.stringify({ action: 'acknowledge-action', data: String(id) }) }]
      : [];
  const own = (text: string): Reply => ({ exact: envelope(action, text, fd) });
  switch (action) {
    case 'base-action':
      return [[...ack, isSet(f['data']) ? { exact: envelope('base-action', f['data'], fd) } : own(MISSING.baseData)]];
    case 'channel-connect': {
      const channel = f['channel'];
      const auth = f['auth'];
      if (!isSet(channel) || channel === '') return [[...ack, own(MISSING.channel)]];
      if (typeof channel !== 'string') return [[...ack, error]];
      if (isSet(auth) && typeof auth !== 'string') return [[...ack, error]];
      return PLAIN_NAME.test(channel) ? [[...ack]] : [[...ack], [...ack, error]];
    }
    case 'channel-disconnect':
      return [[...ack]];
    case 'broadcast-action':
      return [[...ack, ...(isSet(f['data']) ? [] : [own(MISSING.broadcastData)])]];
    case 'fanout-action':
      // Every open socket gets a fanout, the sender included.
      return [[...ack, isSet(f['data']) ? { exact: envelope('fanout-action', f['data'], fd) } : own(MISSING.fanoutData)]];
    case 'acknowledge-action': {
      const data = f['data'];
      if (!isSet(data)) return [[own(MISSING.ackData)]];
      return typeof data === 'string' ? [[]] : [[error]];
    }
    case 'assoc-user-to-fd-action': {
      const userId = f['userId'];
      if (!isSet(userId)) return [[...ack, own(MISSING.userId)]];
      if (userId === '') return [[...ack, own(MISSING.userId)], [...ack, error]];
      if (Number.isInteger(userId) || (typeof userId === 'string' && userId.length <= 200)) return [[...ack]];
      // "integer or string": a fraction, an infinity or a very long string may be refused.
      if (typeof userId === 'number' || typeof userId === 'string') return [[...ack], [...ack, error]];
      return [[...ack, error]];
    }
  }
  return [[error]];
}

/** True when `frames` (the sender's answers) match one alternative of `expected`. */
export function matches(expected: Expectation, frames: string[], fd: number): boolean {
  return expected.some((alternative) => alternative.length === frames.length && alternative.every((reply, i) => matchesReply(reply, frames[i]!, fd)));
}

function matchesReply(reply: Reply, frame: string, fd: number): boolean {
  if ('exact' in reply) return reply.exact === frame;
  let parsed: unknown;
  try {
    parsed = JSON.parse(frame);
  } catch {
    return false;
  }
  const p = parsed as Record<string, unknown>;
  return (
    typeof parsed === 'object' &&
    parsed !== null &&
    Object.keys(p).join(',') === 'action,data,fd' &&
    p['action'] === 'error' &&
    typeof p['data'] === 'string' &&
    (p['data'] as string).length > 0 &&
    p['fd'] === fd
  );
}

export function describeExpectation(expected: Expectation): string {
  return expected.map((alt) => `[${alt.map((r) => ('exact' in r ? r.exact.slice(0, 300) : '<error frame>')).join(', ')}]`).join(' or ');
}

// ---- generation ----

const ALPHABET = [
  ...'abcdefghijklmnopqrstuvwxyz0123456789 .:-_',
  '"', '\\', '{', '}', '[', ']', ',', ':', '/', '\n', '\t', '\u0000', '\u0001', '\u001f', '\u007f',
  'é', 'ß', '€', '中', '🙂', '\u200b', '\ufeff', '\u2028', 'ﬀ', '\uffff',
];

export function randomText(rng: Prng, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += rng.pick(ALPHABET);
  return out;
}

/** Raw JSON texts of every type, some that JSON.stringify never writes (1e400, -0). */
function randomValueText(rng: Prng, depth = 0): string {
  switch (rng.int(0, depth > 2 ? 13 : 17)) {
    case 0: return 'null';
    case 1: return 'true';
    case 2: return 'false';
    case 3: return rng.pick(['0', '-0', '-1', '42', '1.5', '1e308', '1e400', '-1e400', '9007199254740993', '0.1e-400', '123456789012345678901234567890']);
    case 4: return '""';
    case 5: return JSON.stringify(randomText(rng, rng.int(1, 40)));
    case 6: return JSON.stringify(rng.pick(ACTIONS));
    case 7: return JSON.stringify('x'.repeat(rng.int(100, 3000)));
    case 8: return JSON.stringify(rng.pick(['fz.1', 'fz.2', 'lobby', 'all', 'ch:fz.1', '__proto__', 'constructor', '']));
    case 9: return '"\\ud800"';
    case 10: return '"\\u0000\\u001f"';
    case 11: return String(rng.int(-5, 100000));
    case 12: return '[]';
    case 13: return '{}';
    case 14: return `[${Array.from({ length: rng.int(1, 4) }, () => randomValueText(rng, depth + 1)).join(',')}]`;
    case 15: return `{${Array.from({ length: rng.int(1, 3) }, () => `${JSON.stringify(randomKey(rng))}:${randomValueText(rng, depth + 1)}`).join(',')}}`;
    case 16: return '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}';
    default: return `{"action":${JSON.stringify(rng.pick(ACTIONS))},"data":${randomValueText(rng, depth + 1)}}`;
  }
}

function randomKey(rng: Prng): string {
  return rng.pick(['a', 'action', 'data', 'channel', 'auth', 'userId', 'id', '__proto__', 'constructor', 'toString', '', randomText(rng, 5)]);
}

/** Fields each action uses, and a valid value for each. */
function validField(rng: Prng, action: string, field: string): string {
  switch (field) {
    case 'data':
      return action === 'acknowledge-action' ? JSON.stringify(`id-${rng.int(0, 999)}`) : randomValueText(rng, 1);
    case 'channel':
      return JSON.stringify(`fz.${rng.int(0, 5)}`);
    case 'auth':
      return rng.pick(['null', '"token"']);
    case 'userId':
      return rng.chance(0.5) ? String(rng.int(1, 1000)) : JSON.stringify(`user-${rng.int(1, 1000)}`);
    case 'id':
      return rng.chance(0.5) ? JSON.stringify(`c${rng.int(0, 99999)}`) : String(rng.int(0, 99999));
    default:
      return randomValueText(rng);
  }
}

const FIELDS: Record<string, string[]> = {
  'base-action': ['data'],
  'channel-connect': ['channel', 'auth'],
  'channel-disconnect': [],
  'broadcast-action': ['data'],
  'fanout-action': ['data', 'auth'],
  'acknowledge-action': ['data'],
  'assoc-user-to-fd-action': ['userId'],
};

function objectText(fields: [string, string][]): string {
  return `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

/** A frame of a known action with valid fields, sometimes with an id. */
function validFrame(rng: Prng, action: string = rng.pick(ACTIONS)): [string, string][] {
  const fields: [string, string][] = [['action', JSON.stringify(action)]];
  for (const field of FIELDS[action] ?? []) if (field !== 'auth' || rng.chance(0.5)) fields.push([field, validField(rng, action, field)]);
  if (rng.chance(0.15)) fields.push(['id', validField(rng, action, 'id')]);
  return fields;
}

/** A known action with one field (its own, `action`, `id` or a stranger) of a random type, or missing. */
function wrongTypeFrame(rng: Prng): string {
  const action = rng.pick(ACTIONS);
  const fields = validFrame(rng, action);
  const target = rng.pick(['action', 'id', 'extra', ...(FIELDS[action] ?? []), ...(FIELDS[action] ?? [])]);
  const existing = fields.findIndex(([k]) => k === target);
  if (rng.chance(0.15) && existing > 0) fields.splice(existing, 1);
  else if (existing >= 0) fields[existing] = [target, randomValueText(rng)];
  else fields.push([target === 'extra' ? randomKey(rng) : target, randomValueText(rng)]);
  // Duplicate keys: JSON.parse keeps the last one, and so must the server.
  if (rng.chance(0.05)) fields.push(['action', randomValueText(rng)]);
  return objectText(rng.chance(0.1) ? fields.reverse() : fields);
}

/** One value of each JSON type and edge, as raw JSON text; undefined stands for the field left out. */
const TYPED_VALUES: (string | undefined)[] = [
  undefined, 'null', 'true', 'false', '0', '-1', '1.5', '1e400', '""', '"x"', JSON.stringify('y'.repeat(300)),
  '"\\ud800"', '[]', '[1,"a"]', '{}', '{"a":{"b":1}}', '{"__proto__":{"polluted":true}}',
];

/**
 * Every field of every action (its own fields, `action` and `id`) set to every value of
 * TYPED_VALUES, the others valid: the part of the fuzz that leaves nothing to chance.
 */
export function wrongTypeMatrix(rng: Prng): FuzzFrame[] {
  const frames: FuzzFrame[] = [];
  for (const action of ACTIONS) {
    for (const field of ['action', 'id', 'data', 'channel', 'auth', 'userId']) {
      for (const value of TYPED_VALUES) {
        const fields = validFrame(rng, action).filter(([k]) => k !== field);
        if (value !== undefined) fields.push([field, value]);
        frames.push({ kind: 'every field, every type', bytes: Buffer.from(objectText(fields), 'utf8'), binary: false });
      }
    }
  }
  return frames;
}

function unknownActionFrame(rng: Prng): string {
  const name = rng.pick([
    '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '', ' base-action', 'BASE-ACTION', 'base-action\u0000',
    'base-action ', 'connection-info', 'error', 'channel-presence', 'x'.repeat(rng.int(65, 5000)), randomText(rng, rng.int(1, 30)),
  ]);
  return objectText([['action', JSON.stringify(name)], ['data', randomValueText(rng)]]);
}

function nonObjectJson(rng: Prng): string {
  return rng.pick([
    () => '[]',
    () => `[${objectText(validFrame(rng, 'base-action'))}]`,
    () => `[${randomValueText(rng)},${randomValueText(rng)}]`,
    () => rng.pick(['0', '-0', '1e400', '3.14', '-7', '123456789012345678901234567890']),
    () => rng.pick(['null', 'true', 'false']),
    () => JSON.stringify(randomText(rng, rng.int(0, 50))),
    () => ` \n\t${objectText(validFrame(rng, 'base-action'))}\n `,
  ])();
}

/** Nesting around a base-action's data; above the limit only when `depth` says so. */
function deepFrame(rng: Prng, maxDepth: number): string {
  const depth = rng.chance(0.2) ? rng.int(1000, 10_000) : rng.int(maxDepth - 4, maxDepth + 4);
  const open = Array.from({ length: depth }, () => (rng.chance(0.5) ? '[' : '{"k":'));
  const close = open.map((o) => (o === '[' ? ']' : '}')).reverse();
  const body = `${open.join('')}${randomValueText(rng, 3)}${close.join('')}`;
  const frame = `{"action":"base-action","data":${body}}`;
  // Unclosed nesting: the start of a deep frame that never ends.
  return rng.chance(0.15) ? frame.slice(0, rng.int(1, frame.length - 1)) : frame;
}

/** A base-action whose frame is exactly `size` bytes of UTF-8, multi-byte characters near the end when `wide`. */
export function sizedFrame(size: number, wide: boolean): string {
  const head = '{"action":"base-action","data":"';
  const tail = '"}';
  let fill = size - Buffer.byteLength(head) - Buffer.byteLength(tail);
  let wideTail = '';
  while (wide && fill >= 3 && wideTail.length < 20) {
    wideTail += '€';
    fill -= 3;
  }
  return `${head}${'h'.repeat(fill)}${wideTail}${tail}`;
}

/** Flips, drops, inserts and duplicates characters of a valid frame. */
function mutate(rng: Prng, text: string): string {
  let out = [...text];
  for (let n = rng.int(1, 4); n > 0; n--) {
    const at = rng.int(0, out.length);
    switch (rng.int(0, 5)) {
      case 0:
        out.splice(at, 1, rng.pick(ALPHABET));
        break;
      case 1:
        out.splice(at, rng.int(1, 8));
        break;
      case 2:
        out.splice(at, 0, ...randomText(rng, rng.int(1, 6)));
        break;
      case 3:
        out.splice(at, 0, ...out.slice(rng.int(0, out.length), rng.int(0, out.length)));
        break;
      case 4:
        out = out.slice(0, at);
        break;
      default:
        out.splice(at, 0, rng.pick(['"', '\\', '{', '}', '[', ']', ',', ':', 'null', '1e400', '\\u']));
    }
  }
  return out.join('');
}

/**
 * One hostile frame. `avoid` is a string no frame may contain (the control channel's
 * name), so the fuzz can never join the conversation it must not disturb.
 */
export function generateFrame(rng: Prng, maxPayload: number, maxDepth: number, avoid: string): FuzzFrame {
  for (let attempt = 0; attempt < 100; attempt++) {
    const frame = generateOnce(rng, maxPayload, maxDepth);
    if (!frame.bytes.includes(avoid)) return frame;
  }
  throw new Error(`could not generate a frame without ${avoid}`);
}

/** How often each kind of frame is drawn, in percent. */
const MIX: [kind: string, percent: number][] = [
  ['random binary', 6],
  ['random bytes as text', 2],
  ['random characters', 7],
  ['truncated JSON', 9],
  // Big frames carry most of the bytes: what a leak of frame memory would show in RSS.
  ['near --max-payload', 8],
  ['over --max-payload', 1],
  ['deep nesting', 5],
  ['wrong types', 25],
  ['valid', 8],
  ['unknown action', 5],
  ['not an object', 6],
  ['mutated', 18],
];

function generateOnce(rng: Prng, maxPayload: number, maxDepth: number): FuzzFrame {
  let roll = rng.next() * 100;
  let kind = MIX[MIX.length - 1]![0];
  for (const [k, percent] of MIX) {
    if (roll < percent) {
      kind = k;
      break;
    }
    roll -= percent;
  }
  const text = (value: string): FuzzFrame => ({ kind, bytes: Buffer.from(value, 'utf8'), binary: false });
  switch (kind) {
    case 'random binary':
      return { kind, bytes: rng.bytes(rng.int(0, 300)), binary: true };
    case 'random bytes as text':
      // Mostly invalid UTF-8, which ends the socket; sometimes ASCII, which must be echoed.
      return { kind, bytes: rng.chance(0.3) ? Buffer.from(rng.bytes(rng.int(1, 100)).map((b) => 0x20 + (b % 0x5f))) : rng.bytes(rng.int(1, 200)), binary: false };
    case 'random characters':
      return text(randomText(rng, rng.int(0, 200)));
    case 'truncated JSON': {
      const whole = [...(rng.chance(0.5) ? objectText(validFrame(rng)) : wrongTypeFrame(rng))];
      return text(whole.slice(0, rng.int(0, whole.length - 1)).join(''));
    }
    case 'near --max-payload':
      return text(sizedFrame(maxPayload - rng.int(0, 64), rng.chance(0.5)));
    case 'over --max-payload':
      return text(sizedFrame(maxPayload + rng.int(1, 64), rng.chance(0.5)));
    case 'deep nesting':
      return text(deepFrame(rng, maxDepth));
    case 'wrong types':
      return text(wrongTypeFrame(rng));
    case 'valid':
      return text(objectText(validFrame(rng)));
    case 'unknown action':
      return text(unknownActionFrame(rng));
    case 'not an object':
      return text(nonObjectJson(rng));
    default:
      return text(mutate(rng, rng.chance(0.5) ? objectText(validFrame(rng)) : wrongTypeFrame(rng)));
  }
}
