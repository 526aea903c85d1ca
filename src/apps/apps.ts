import { ConfigError } from '../errors.js';

/** The events an app's webhook may ask for (all of them when it names none). */
export const WEBHOOK_EVENTS = ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event', 'cache_miss'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** One event of a webhook body, as Pusher sends it. */
export type WebhookPayload = { name: WebhookEvent; channel: string } & Record<string, unknown>;

export interface Webhook {
  url: string;
  /** The events sent to this URL; every event when absent. */
  events?: WebhookEvent[];
}

/** What an app may do and how much; PUSHER.md gives the defaults. */
export interface PusherAppSettings {
  enabled: boolean;
  clientEvents: boolean;
  userAuthentication: boolean;
  /** Open connections of the app across the server; 0 = no limit. */
  maxConnections: number;
  maxPresenceMembers: number;
  /** Channels one connection may be subscribed to (and subscribing) at once. */
  maxChannelsPerConnection: number;
  /** Bytes of an event's `data` (client events and the HTTP API). */
  maxEventBytes: number;
  maxEventNameLength: number;
  maxEventChannels: number;
  maxBatchEvents: number;
  /** Client events one connection may send per second. */
  clientEventRate: number;
  webhooks: Webhook[];
}

export interface PusherApp extends PusherAppSettings {
  id: string;
  key: string;
  secret: string;
}

export const DEFAULT_APP_SETTINGS: PusherAppSettings = {
  enabled: true,
  clientEvents: false,
  userAuthentication: true,
  maxConnections: 0,
  maxPresenceMembers: 100,
  maxChannelsPerConnection: 1000,
  maxEventBytes: 10 * 1024,
  maxEventNameLength: 200,
  maxEventChannels: 100,
  maxBatchEvents: 10,
  clientEventRate: 10,
  webhooks: [],
};

const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

function fail(where: string, why: string): never {
  throw new ConfigError(`${where}: ${why}`);
}

function positive(where: string, name: string, value: unknown, allowZero = false): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1)) fail(where, `"${name}" must be a whole number of ${allowZero ? 0 : 1} or more`);
  return value;
}

function webhooksOf(where: string, value: unknown): Webhook[] {
  if (!Array.isArray(value)) fail(where, '"webhooks" must be an array of {"url", "events"?}');
  return value.map((hook: unknown, i) => {
    const at = `${where} webhook ${i + 1}`;
    if (typeof hook !== 'object' || hook === null) fail(at, 'must be an object {"url", "events"?}');
    const { url, events } = hook as { url?: unknown; events?: unknown };
    if (typeof url !== 'string' || !/^https?:\/\//.test(url)) fail(at, '"url" must be an http:// or https:// URL');
    if (events === undefined) return { url };
    if (!Array.isArray(events) || !events.every((e) => (WEBHOOK_EVENTS as readonly unknown[]).includes(e))) {
      fail(at, `"events" must list some of ${WEBHOOK_EVENTS.join(', ')}`);
    }
    return { url, events: events as WebhookEvent[] };
  });
}

/** One app of the config file's `pusherApps`, checked, with the defaults filled in. */
function appFromObject(raw: unknown, index: number): PusherApp {
  const where = `pusherApps[${index}]`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(where, 'must be an object with "id", "key" and "secret"');
  const o = raw as Record<string, unknown>;
  const known = new Set(['id', 'key', 'secret', ...Object.keys(DEFAULT_APP_SETTINGS)]);
  for (const name of Object.keys(o)) if (!known.has(name)) fail(where, `unknown setting "${name}" (known: ${[...known].join(', ')})`);
  const text = (name: string): string => {
    const value = o[name];
    if (typeof value === 'number') return String(value);
    if (typeof value !== 'string' || value === '') fail(where, `"${name}" must be a non-empty string`);
    return value;
  };
  const flag = (name: keyof PusherAppSettings): boolean => {
    const value = o[name] ?? DEFAULT_APP_SETTINGS[name];
    if (typeof value !== 'boolean') fail(where, `"${name}" must be true or false`);
    return value;
  };
  const count = (name: keyof PusherAppSettings, allowZero = false): number => positive(where, name, o[name] ?? DEFAULT_APP_SETTINGS[name], allowZero);
  return {
    id: text('id'),
    key: text('key'),
    secret: text('secret'),
    enabled: flag('enabled'),
    clientEvents: flag('clientEvents'),
    userAuthentication: flag('userAuthentication'),
    maxConnections: count('maxConnections', true),
    maxPresenceMembers: count('maxPresenceMembers'),
    maxChannelsPerConnection: count('maxChannelsPerConnection'),
    maxEventBytes: count('maxEventBytes'),
    maxEventNameLength: count('maxEventNameLength'),
    maxEventChannels: count('maxEventChannels'),
    maxBatchEvents: count('maxBatchEvents'),
    clientEventRate: count('clientEventRate'),
    webhooks: webhooksOf(where, o['webhooks'] ?? []),
  };
}

/** An app given as `ID:KEY:SECRET` on the command line, with the default settings. */
function appFromFlag(text: string, clientEvents: boolean): PusherApp {
  const parts = text.split(':');
  if (parts.length !== 3 || parts.some((part) => part === '')) {
    throw new ConfigError(`option --pusher-app must be ID:KEY:SECRET, got ${JSON.stringify(parts.length === 3 ? `${parts[0]}:${parts[1]}:…` : text.replace(/:[^:]*$/, ':…'))}`);
  }
  const [id, key, secret] = parts as [string, string, string];
  return { id, key, secret, ...DEFAULT_APP_SETTINGS, clientEvents };
}

/**
 * Every Pusher app of the server: the flags' ones, then the config file's. Ids and keys
 * must be unique, and short URL-safe names, since they appear in paths.
 */
export function resolvePusherApps(flags: readonly string[], clientEvents: boolean, fromFile: unknown): PusherApp[] {
  if (!Array.isArray(fromFile)) throw new ConfigError('option pusherApps must be an array of apps');
  const apps = [...flags.map((flag) => appFromFlag(flag, clientEvents)), ...fromFile.map(appFromObject)];
  const ids = new Set<string>();
  const keys = new Set<string>();
  for (const app of apps) {
    for (const [name, value] of [['id', app.id], ['key', app.key]] as const) {
      if (!ID_PATTERN.test(value)) throw new ConfigError(`Pusher app ${name} ${JSON.stringify(value)} must be 1 to 64 letters, digits, "_", "." or "-"`);
    }
    if (ids.has(app.id)) throw new ConfigError(`Pusher app id ${app.id} is given twice`);
    if (keys.has(app.key)) throw new ConfigError(`Pusher app key ${app.key} is given twice`);
    ids.add(app.id);
    keys.add(app.key);
  }
  return apps;
}

/** The apps of a server, by key (for connections) and by id (for the HTTP API). */
export class AppDirectory {
  private readonly keys = new Map<string, PusherApp>();
  private readonly ids = new Map<string, PusherApp>();

  constructor(readonly apps: readonly PusherApp[]) {
    for (const app of apps) {
      this.keys.set(app.key, app);
      this.ids.set(app.id, app);
    }
  }

  get size(): number {
    return this.apps.length;
  }

  byKey(key: string): PusherApp | undefined {
    return this.keys.get(key);
  }

  byId(id: string): PusherApp | undefined {
    return this.ids.get(id);
  }
}
