import type { ServerConfig } from '../../config.js';
import { HttpErrors } from '../../errors.js';
import { REPLAY_MAX_PART_BYTES } from '../../history/sequenced-frame.js';
import { jsonReply, type HttpHandler, type HttpReply, type HttpRoute } from '../../http/routes.js';
import { guardedBy } from '../../http/token-guard.js';
import type { Registry } from '../../registry/registry.js';
import { channelTopic } from '../../topics.js';
import { channelNameProblem } from './channel-name.js';
import { envelope } from './envelope.js';
import type { Hub } from './hub.js';

export interface HttpApiDeps {
  config: Pick<ServerConfig, 'token' | 'history' | 'tempTokenMax'>;
  hub: Hub;
  /** What the API asks of the registry, and nothing else. */
  registry: Pick<Registry, 'mintToken' | 'hasMembers' | 'historyPublish' | 'historyReplay'>;
}

function parseObject(body: Buffer): Record<string, unknown> | undefined {
  if (body.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The native protocol's HTTP endpoints of PROTOCOL.md, independent of the transport. */
export function nativeRoutes(deps: HttpApiDeps): HttpRoute[] {
  const { config, hub, registry } = deps;
  const guarded = (handler: HttpHandler): HttpHandler => guardedBy(config.token, [config.token], handler);

  const mintToken: HttpHandler = async (request): Promise<HttpReply> => {
    // A temporary token stands in for the server token: without one it would admit nothing.
    if (config.token === undefined) return jsonReply(400, { error: HttpErrors.noServerToken });
    const body = parseObject(request.body);
    if (!body) return jsonReply(400, { error: HttpErrors.invalidJson });
    const channel = body['channel'];
    if (channel !== undefined && channel !== null && typeof channel !== 'string') {
      return jsonReply(400, { error: 'Field "channel" must be a string.' });
    }
    const problem = typeof channel === 'string' ? channelNameProblem(channel) : undefined;
    if (problem) return jsonReply(400, { error: problem });
    const minted = await registry.mintToken(...(typeof channel === 'string' && channel !== '' ? [channel] : []));
    if ('retryAfter' in minted) {
      return { ...jsonReply(503, { error: HttpErrors.tooManyTokens(config.tempTokenMax) }), headers: { 'retry-after': String(minted.retryAfter) } };
    }
    return jsonReply(200, { auth: minted.token });
  };

  const sendMessage: HttpHandler = async (request): Promise<HttpReply> => {
    const body = parseObject(request.body);
    if (!body) return jsonReply(400, { error: HttpErrors.invalidJson });
    const message = body['message'];
    if (typeof message !== 'string' || message === '') return jsonReply(400, { error: HttpErrors.invalidMessage });
    const channel = body['channel'];
    if (config.history > 0 && typeof channel === 'string' && channel !== '') {
      // Kept even with no member: a client that is reconnecting gets it.
      const problem = channelNameProblem(channel);
      if (problem) return jsonReply(400, { error: problem });
      const ackId = hub.newAckId();
      const seq = await registry.historyPublish(channel, envelope('broadcast-action', message, undefined, ackId), ackId);
      return jsonReply(200, { success: 'Message sent successfully!', seq });
    }
    if (typeof channel !== 'string' || !(await registry.hasMembers(channel))) {
      return jsonReply(404, { error: HttpErrors.channelNotFound });
    }
    const ackId = hub.newAckId();
    if (!hub.publish(channelTopic(channel), envelope('broadcast-action', message, undefined, ackId), ackId ? { ackId } : {})) {
      return { ...jsonReply(503, { error: HttpErrors.busy }), headers: { 'retry-after': '1' } };
    }
    return jsonReply(200, { success: 'Message sent successfully!' });
  };

  /** The backlog of a channel, by the rules of channel-connect with `since`. */
  const history: HttpHandler = async (request): Promise<HttpReply> => {
    const channel = request.query.get('channel') ?? '';
    const problem = channel === '' ? 'Query parameter "channel" is required.' : channelNameProblem(channel);
    if (problem) return jsonReply(400, { error: problem });
    const count = (name: string): number | undefined | 'invalid' => {
      const raw = request.query.get(name);
      if (raw === null || raw === '') return undefined;
      return /^\d{1,15}$/.test(raw) ? Number(raw) : 'invalid';
    };
    const since = count('since');
    const limit = count('limit');
    if (since === 'invalid' || limit === 'invalid') return jsonReply(400, { error: 'Query parameters "since" and "limit" must be whole numbers, 0 or more.' });
    const epoch = request.query.get('epoch');
    const replay = await registry.historyReplay({ channel, since: since ?? 0, ...(epoch ? { epoch } : {}), ...(limit !== undefined ? { limit } : {}), maxBytes: REPLAY_MAX_PART_BYTES });
    // A deep backlog is answered a part at a time: `next` says where the rest starts, and until then the caller has not recovered.
    const more = replay.next !== undefined ? { next: replay.next } : {};
    return jsonReply(200, { channel, epoch: replay.epoch, seq: replay.seq, recovered: replay.recovered && replay.next === undefined, ...more, frames: replay.frames.map((frame) => JSON.parse(frame) as unknown) });
  };

  return [
    { method: 'POST', path: '/conveyor/auth', handler: guarded(mintToken) },
    { method: 'POST', path: '/conveyor/message', handler: guarded(sendMessage) },
    ...(config.history > 0 ? [{ method: 'GET' as const, path: '/conveyor/history', handler: guarded(history) }] : []),
  ];
}

