import { Counter, Gauge, Registry } from 'prom-client';
import type { ServerStats, WorkerUsage } from '../ipc/messages.js';

/** The Prometheus text format's content type, for the HTTP reply. */
export const METRICS_CONTENT_TYPE = new Registry().contentType;

const PER_WORKER: { name: string; help: string; kind: 'gauge' | 'counter'; value: keyof WorkerUsage | 'connections' }[] = [
  { name: 'conveyor_worker_connections', help: 'Open WebSockets of an event worker', kind: 'gauge', value: 'connections' },
  { name: 'conveyor_worker_rss_bytes', help: 'Resident memory of an event worker', kind: 'gauge', value: 'rss' },
  { name: 'conveyor_frames_received_total', help: 'Frames received from clients', kind: 'counter', value: 'framesReceived' },
  { name: 'conveyor_frames_published_total', help: 'Frames published to a channel or to everyone (counted once, whatever the recipients)', kind: 'counter', value: 'framesPublished' },
  { name: 'conveyor_slow_consumers_closed_total', help: 'Sockets closed with 1013 for passing --max-backpressure', kind: 'counter', value: 'slowConsumersClosed' },
  { name: 'conveyor_slow_consumers_dropping_total', help: 'Times a slow socket was found missing messages under --slow-consumer drop', kind: 'counter', value: 'slowConsumersDropping' },
  { name: 'conveyor_ack_pending', help: 'Messages waiting for at least one acknowledgment', kind: 'gauge', value: 'ackPending' },
  { name: 'conveyor_ack_given_up_total', help: 'Deliveries given up after the last re-send without an acknowledgment', kind: 'counter', value: 'ackGivenUp' },
  { name: 'conveyor_ack_overflow_closed_total', help: 'Sockets closed with 1008 for passing --ack-max-pending or --ack-max-pending-bytes', kind: 'counter', value: 'ackOverflowClosed' },
  { name: 'conveyor_ipc_queued_bytes', help: 'Bytes an event worker has queued towards the primary', kind: 'gauge', value: 'ipcQueuedBytes' },
  { name: 'conveyor_ipc_refused_total', help: 'Frames refused because the link between processes was full for their sender', kind: 'counter', value: 'ipcRefused' },
];

/**
 * Renders the server-wide statistics the primary keeps as Prometheus metrics. A registry
 * per scrape: the numbers live in the primary, and this worker only formats them.
 */
export async function renderMetrics(stats: ServerStats): Promise<string> {
  const registry = new Registry();
  new Gauge({ name: 'conveyor_connections', help: 'Open WebSockets of the server', registers: [registry] }).set(stats.connections);
  new Gauge({ name: 'conveyor_channels', help: 'Channels with at least one member', registers: [registry] }).set(stats.channels);
  new Gauge({ name: 'conveyor_rss_bytes', help: 'Resident memory of the primary and every worker', registers: [registry] }).set(stats.rss);
  new Gauge({ name: 'conveyor_workers', help: 'Running event workers', registers: [registry] }).set(stats.workers.length);
  new Gauge({ name: 'conveyor_temporary_tokens', help: 'Live temporary tokens (--temp-token-max bounds them)', registers: [registry] }).set(stats.temporaryTokens);
  if (stats.webhooks) {
    const hooks = stats.webhooks;
    new Gauge({ name: 'conveyor_webhook_bytes', help: 'Bytes of webhook events waiting and request bodies being delivered (bounded at 64 MiB)', registers: [registry] }).set(hooks.bytes);
    new Counter({ name: 'conveyor_webhook_events_dropped_total', help: 'Webhook events dropped because the queue was at its bound', registers: [registry] }).inc(hooks.dropped);
    new Counter({ name: 'conveyor_webhook_requests_delivered_total', help: 'Webhook requests a receiver answered with 2xx', registers: [registry] }).inc(hooks.delivered);
    new Counter({ name: 'conveyor_webhook_requests_failed_total', help: 'Webhook requests given up after every attempt', registers: [registry] }).inc(hooks.failed);
  }
  if (stats.history) {
    new Gauge({ name: 'conveyor_history_bytes', help: 'Bytes of frames kept for recovery across channels (--history-max-bytes bounds them)', registers: [registry] }).set(stats.history.bytes);
    new Counter({ name: 'conveyor_history_evicted_channels_total', help: 'Channels whose kept frames --history-max-bytes took, least recently written first', registers: [registry] }).inc(stats.history.evictedChannels);
    new Counter({ name: 'conveyor_history_evicted_frames_total', help: 'Kept frames --history-max-bytes took', registers: [registry] }).inc(stats.history.evictedFrames);
  }
  if (stats.cluster) {
    const cluster = stats.cluster;
    new Gauge({ name: 'conveyor_redis_up', help: 'Whether this node reaches Redis (--redis): 1 up, 0 down', registers: [registry] }).set(stats.redis === 'up' ? 1 : 0);
    new Gauge({ name: 'conveyor_nodes', help: 'Live nodes sharing this Redis, this one included', registers: [registry] }).set(stats.nodes ?? 1);
    new Gauge({ name: 'conveyor_redis_pending_bytes', help: 'Bytes of publications handed to Redis and not yet answered (--ipc-queue-limit bounds them)', registers: [registry] }).set(cluster.pendingBytes);
    new Gauge({ name: 'conveyor_redis_bus_lag_seconds', help: 'How late this node last heard its own probe back through the Redis bus (every 2 s)', registers: [registry] }).set(cluster.lagMs / 1000);
    const counters: [string, string, number][] = [
      ['conveyor_node_publications_sent_total', 'Publications this node sent to the other nodes through Redis', cluster.published],
      ['conveyor_node_publications_received_total', 'Publications this node received from the other nodes', cluster.received],
      ['conveyor_node_publications_failed_total', 'Publications that could not reach the other nodes: Redis was away, or over twice --ipc-queue-limit waited for it', cluster.failed],
      ['conveyor_node_frames_missed_total', 'Frames of channels with members here that never arrived from Redis (it cut the subscription); with --history a rejoin with since recovers them', cluster.missed],
      ['conveyor_redis_disconnects_total', 'Times this node lost its link to Redis', cluster.redisDisconnects],
      ['conveyor_redis_bus_disconnects_total', "Times Redis closed this node's bus subscription while its commands went on (it fell behind client-output-buffer-limit pubsub)", cluster.busDisconnects],
      ['conveyor_redis_errors_total', 'Errors of the link to Redis (failed connection attempts included)', cluster.redisErrors],
      ['conveyor_nodes_removed_total', 'Dead nodes whose sockets this node took out of their channels', cluster.nodesRemoved],
    ];
    for (const [name, help, value] of counters) new Counter({ name, help, registers: [registry] }).inc(value);
  }
  for (const spec of PER_WORKER) {
    const options = { name: spec.name, help: spec.help, labelNames: ['worker'] as const, registers: [registry] };
    const metric = spec.kind === 'gauge' ? new Gauge(options) : new Counter(options);
    for (const worker of stats.workers) {
      const labels = { worker: String(worker.id) };
      if (metric instanceof Gauge) metric.set(labels, worker[spec.value]);
      else metric.inc(labels, worker[spec.value]);
    }
  }
  return registry.metrics();
}
