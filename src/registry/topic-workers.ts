/**
 * Called when one worker gains its first or loses its last subscriber of a topic.
 * `others` are the other workers with subscribers, the same before and after the change.
 */
export type TopicWorkersListener = (topic: string, worker: number, added: boolean, others: number[]) => void;

/**
 * How many subscribers each worker has per topic, whatever the protocol: the router sends
 * a topic's traffic only to the workers counted here, and tells workers when another one
 * starts or stops holding a topic.
 */
export class TopicWorkers {
  private readonly topicWorkers = new Map<string, Map<number, number>>();
  /** Told of every change in which workers hold a topic. */
  onChange: TopicWorkersListener = () => {};

  /** Topics with subscribers on any worker. */
  topics(): Iterable<string> {
    return this.topicWorkers.keys();
  }

  /** Workers that have at least one subscriber of `topic`. */
  workersFor(topic: string): Iterable<number> {
    return this.topicWorkers.get(topic)?.keys() ?? [];
  }

  /** Subscribers of `topic` on `worker`. */
  countOf(topic: string, worker: number): number {
    return this.topicWorkers.get(topic)?.get(worker) ?? 0;
  }

  count(topic: string, worker: number, delta: number): void {
    let perWorker = this.topicWorkers.get(topic);
    if (!perWorker) this.topicWorkers.set(topic, (perWorker = new Map()));
    const before = perWorker.get(worker) ?? 0;
    const next = before + delta;
    if (next > 0) perWorker.set(worker, next);
    else perWorker.delete(worker);
    if (perWorker.size === 0) this.topicWorkers.delete(topic);
    if ((before > 0) !== (next > 0)) {
      const others = [...perWorker.keys()].filter((w) => w !== worker);
      this.onChange(topic, worker, next > 0, others);
    }
  }
}
