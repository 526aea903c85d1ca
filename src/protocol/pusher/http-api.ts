import type { AppDirectory, PusherApp } from '../../apps/apps.js';
import { ServiceUnavailable } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Registry } from '../../registry/registry.js';
import { jsonReply, type HttpHandler, type HttpReply, type HttpRequestInfo, type HttpRoute } from '../../http/routes.js';
import { channelType } from '../../channel-types.js';
import { USER_CHANNEL_PREFIX, channelNameProblem } from './channels.js';
import { apiRequestProblem } from './signatures.js';
import { pusherTopic, userTopic } from '../../topics.js';

export interface PusherApiDeps {
  apps: AppDirectory;
  /** What the API reads and changes of the registry, and nothing else. */
  registry: Pick<Registry, 'pusherRemember' | 'pusherChannel' | 'pusherChannels' | 'pusherUsers' | 'pusherTerminate'>;
  /** Publishes to a topic on every worker, a socket left out; false when refused for load. */
  /** Publishes every frame of one request, or none (false) when the server refuses for load. */
  publishAll(items: readonly { topic: string; frame: string; options?: { except?: number } }[]): boolean;
  log: Logger;
}

const CORS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'content-type, x-pusher-library',
  'access-control-max-age': '86400',
};

/** An API answer: the status tells the outcome, as the `pusher` SDK reads it. */
function answer(status: number, body: unknown): HttpReply {
  return { ...jsonReply(status, body), headers: CORS };
}

const fail = (status: number, error: string): HttpReply => answer(status, { error });

/** An event to deliver, validated: the frame for each channel is built once. */
interface PlannedEvent {
  name: string;
  data: string;
  channels: string[];
  except: number | undefined;
  info: string[];
}

/** The fd of a Pusher socket_id (`fd.random`), to leave it out of a publication. */
function fdOfSocketId(socketId: unknown): number | undefined | 'invalid' {
  if (socketId === undefined || socketId === null) return undefined;
  if (typeof socketId !== 'string' || !/^\d+\.\d+$/.test(socketId)) return 'invalid';
  return Number(socketId.slice(0, socketId.indexOf('.')));
}

function isPlan(value: PlannedEvent | HttpReply): value is PlannedEvent {
  return 'channels' in value && Array.isArray(value.channels);
}

/** Checks one event of `events` or `batch_events`; returns what is wrong with its status, or the plan. */
function planEvent(app: PusherApp, raw: unknown): PlannedEvent | HttpReply {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail(400, 'An event must be a JSON object with "name", "data" and "channels" or "channel"');
  const event = raw as Record<string, unknown>;
  const { name, data } = event;
  if (typeof name !== 'string' || name === '') return fail(400, 'Event "name" must be a non-empty string');
  if (name.length > app.maxEventNameLength) return fail(400, `Event name is over ${app.maxEventNameLength} characters`);
  if (typeof data !== 'string') return fail(400, 'Event "data" must be a string (the SDKs serialise it)');
  if (Buffer.byteLength(data) > app.maxEventBytes) return fail(413, `Event data is ${Buffer.byteLength(data)} bytes; the app's limit is ${app.maxEventBytes}`);
  const channels = Array.isArray(event['channels']) ? event['channels'] : typeof event['channel'] === 'string' ? [event['channel']] : undefined;
  if (!channels || channels.length === 0) return fail(400, 'Give "channels" (an array) or "channel"');
  if (channels.length > app.maxEventChannels) return fail(400, `An event may go to at most ${app.maxEventChannels} channels`);
  for (const channel of channels) {
    if (typeof channel === 'string' && channel.startsWith(USER_CHANNEL_PREFIX) && channel.length > USER_CHANNEL_PREFIX.length && channel.length <= 300) continue;
    const problem = channelNameProblem(channel);
    if (problem) return fail(400, `${problem}: ${JSON.stringify(channel).slice(0, 200)}`);
  }
  const except = fdOfSocketId(event['socket_id']);
  if (except === 'invalid') return fail(400, '"socket_id" must be a socket id such as 1234.5678');
  const info = typeof event['info'] === 'string' ? event['info'].split(',').map((f) => f.trim()).filter((f) => f !== '') : [];
  return { name, data, channels: channels as string[], except, info };
}

/**
 * Pusher's HTTP API under `/apps/{id}/`: events, batch events, channels, users and
 * terminating a user's connections. Every request is signed with the app's secret; the
 * answers are the same on every worker because they come from the registry.
 */
export function pusherApiRoutes(deps: PusherApiDeps): HttpRoute[] {
  const { apps, registry, log } = deps;

  /**
   * Delivers the planned events of one request, every channel of every event, or none when the
   * server refused for load: a client that retries a refused request then sends nothing twice.
   * Resolves once cache channels keep their event: a subscriber after the answer gets it.
   */
  const deliver = (app: PusherApp, events: readonly PlannedEvent[]): false | Promise<void> => {
    const items: { topic: string; frame: string; options: { except?: number }; cache: string | undefined }[] = [];
    for (const event of events) {
      for (const channel of event.channels) {
        const frame = JSON.stringify({ event: event.name, channel, data: event.data });
        const topic = channel.startsWith(USER_CHANNEL_PREFIX) ? userTopic(app.id, channel.slice(USER_CHANNEL_PREFIX.length)) : pusherTopic(app.id, channel);
        items.push({ topic, frame, options: event.except !== undefined ? { except: event.except } : {}, cache: channelType(channel).cache ? channel : undefined });
      }
    }
    if (!deps.publishAll(items)) return false;
    const kept = items.filter((item) => item.cache !== undefined).map((item) => registry.pusherRemember(app.id, item.cache!, item.frame));
    return Promise.all(kept).then(() => {});
  };

  /** What `info` asked for each channel of an event. */
  const channelInfo = async (app: PusherApp, event: PlannedEvent): Promise<Record<string, Record<string, number>>> => {
    const out: Record<string, Record<string, number>> = {};
    for (const channel of event.channels) {
      const stats = await registry.pusherChannel(app.id, channel);
      const fields: Record<string, number> = {};
      if (event.info.includes('subscription_count')) fields['subscription_count'] = stats.subscription_count;
      if (event.info.includes('user_count') && stats.user_count !== undefined) fields['user_count'] = stats.user_count;
      out[channel] = fields;
    }
    return out;
  };

  /** The body as a JSON object, or undefined when it is not one. */
  const parseBody = (request: HttpRequestInfo): Record<string, unknown> | undefined => {
    try {
      const parsed: unknown = JSON.parse(request.body.toString('utf8'));
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch {
      // answered by the caller
    }
    return undefined;
  };
  const notAnObject = (): HttpReply => fail(400, 'Request body must be a JSON object');

  const events = async (app: PusherApp, request: HttpRequestInfo): Promise<HttpReply> => {
    const body = parseBody(request);
    if (!body) return notAnObject();
    const plan = planEvent(app, body);
    if (!isPlan(plan)) return plan;
    const delivered = deliver(app, [plan]);
    if (!delivered) return fail(503, 'The server is relaying too much just now; nothing was sent. Retry shortly.');
    await delivered;
    return answer(200, plan.info.length > 0 ? { channels: await channelInfo(app, plan) } : {});
  };

  const batchEvents = async (app: PusherApp, request: HttpRequestInfo): Promise<HttpReply> => {
    const body = parseBody(request);
    if (!body) return notAnObject();
    const batch = body['batch'];
    if (!Array.isArray(batch) || batch.length === 0) return fail(400, '"batch" must be a non-empty array of events');
    if (batch.length > app.maxBatchEvents) return fail(400, `A batch may hold at most ${app.maxBatchEvents} events`);
    const plans: PlannedEvent[] = [];
    for (const raw of batch) {
      const plan = planEvent(app, raw);
      if (!isPlan(plan)) return plan;
      plans.push(plan);
    }
    const delivered = deliver(app, plans);
    if (!delivered) return fail(503, 'The server is relaying too much just now; nothing was sent. Retry shortly.');
    await delivered;
    const results = await Promise.all(plans.map(async (plan) => (plan.info.length > 0 ? await channelInfo(app, plan) : undefined)));
    return answer(200, { batch: results.map((channels) => (channels ? Object.values(channels)[0] ?? {} : {})) });
  };

  const channels = async (app: PusherApp, request: HttpRequestInfo): Promise<HttpReply> => {
    const prefix = request.query.get('filter_by_prefix') ?? '';
    const info = (request.query.get('info') ?? '').split(',');
    const userCount = info.includes('user_count');
    if (userCount && !prefix.startsWith('presence-')) return fail(400, 'info=user_count needs filter_by_prefix=presence-');
    return answer(200, { channels: await registry.pusherChannels(app.id, prefix, userCount) });
  };

  const channel = async (app: PusherApp, name: string, request: HttpRequestInfo): Promise<HttpReply> => {
    const problem = channelNameProblem(name);
    if (problem) return fail(400, problem);
    const info = (request.query.get('info') ?? '').split(',');
    const stats = await registry.pusherChannel(app.id, name);
    if (info.includes('user_count') && channelType(name).kind !== 'presence') return fail(400, 'user_count is only for presence channels');
    return answer(200, {
      occupied: stats.occupied,
      ...(info.includes('subscription_count') ? { subscription_count: stats.subscription_count } : {}),
      ...(info.includes('user_count') ? { user_count: stats.user_count ?? 0 } : {}),
    });
  };

  const users = async (app: PusherApp, name: string): Promise<HttpReply> => {
    if (channelType(name).kind !== 'presence') return fail(400, 'Users can only be listed for presence channels');
    return answer(200, { users: (await registry.pusherUsers(app.id, name)).map((id) => ({ id })) });
  };

  const handler: HttpHandler = async (request): Promise<HttpReply> => {
    if (request.method === 'OPTIONS') return { status: 204, body: '', headers: CORS };
    const parts = request.path.split('/').map((part) => {
      try {
        return decodeURIComponent(part);
      } catch {
        return part;
      }
    });
    // ['', 'apps', id, ...rest]
    const app = apps.byId(parts[2] ?? '');
    if (!app) return fail(404, `Unknown app id ${JSON.stringify((parts[2] ?? '').slice(0, 64))}`);
    const problem = apiRequestProblem(app, request.method, request.path, request.query, request.body, Date.now());
    if (problem) return fail(401, problem);
    if (!app.enabled) return fail(403, 'The app is disabled');
    const rest = parts.slice(3);
    const route = `${request.method} ${rest[0] ?? ''}`;
    try {
      if (route === 'POST events' && rest.length === 1) return await events(app, request);
      if (route === 'POST batch_events' && rest.length === 1) return await batchEvents(app, request);
      if (route === 'GET channels' && rest.length === 1) return await channels(app, request);
      if (route === 'GET channels' && rest.length === 2) return await channel(app, rest[1]!, request);
      if (route === 'GET channels' && rest.length === 3 && rest[2] === 'users') return await users(app, rest[1]!);
      if (route === 'POST users' && rest.length === 3 && rest[2] === 'terminate_connections') {
        await registry.pusherTerminate(app.id, rest[1]!);
        return answer(200, {});
      }
    } catch (error) {
      if (error instanceof ServiceUnavailable) return fail(503, error.message);
      log.error({ err: error, app: app.id, path: request.path.slice(0, 200) }, 'pusher API request failed');
      return fail(500, 'The server could not answer; retry');
    }
    return fail(404, `No such endpoint: ${request.method} ${request.path.slice(0, 200)}`);
  };

  return [{ method: '*', path: '/apps/', prefix: true, handler }];
}
