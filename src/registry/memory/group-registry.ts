import type { TopicWorkers } from '../topic-workers.js';

/** A group got its first member anywhere, or lost its last; `fd` is the socket that caused it. */
export interface GroupChange {
  topic: string;
  created: boolean;
  fd: number;
  worker: number;
}

/**
 * Members of the WebSocket apps' groups across the server, by group topic. Lives in the
 * primary; counts into the topic table so that a group's publications cross only to
 * workers with members.
 */
export class GroupRegistry {
  private readonly groups = new Map<string, Set<number>>();
  private readonly sockets = new Map<number, { worker: number; topics: Set<string> }>();

  constructor(
    private readonly topicWorkers: TopicWorkers,
    private readonly onChange: (change: GroupChange) => void,
  ) {}

  join(fd: number, worker: number, topic: string): void {
    let socket = this.sockets.get(fd);
    if (!socket) this.sockets.set(fd, (socket = { worker, topics: new Set() }));
    if (socket.topics.has(topic)) return;
    socket.topics.add(topic);
    let members = this.groups.get(topic);
    if (!members) this.groups.set(topic, (members = new Set()));
    members.add(fd);
    this.topicWorkers.count(topic, worker, 1);
    if (members.size === 1) this.onChange({ topic, created: true, fd, worker });
  }

  leave(fd: number, topic: string): void {
    const socket = this.sockets.get(fd);
    if (!socket || !socket.topics.delete(topic)) return;
    const members = this.groups.get(topic);
    members?.delete(fd);
    this.topicWorkers.count(topic, socket.worker, -1);
    if (members?.size === 0) {
      this.groups.delete(topic);
      this.onChange({ topic, created: false, fd, worker: socket.worker });
    }
    if (socket.topics.size === 0) this.sockets.delete(fd);
  }

  /** The groups with members here. */
  topics(): Iterable<string> {
    return this.groups.keys();
  }

  /** A socket closed: it leaves every group. */
  close(fd: number): void {
    for (const topic of [...(this.sockets.get(fd)?.topics ?? [])]) this.leave(fd, topic);
  }

  dropWorker(worker: number): void {
    for (const [fd, socket] of [...this.sockets]) if (socket.worker === worker) this.close(fd);
  }
}
