/**
 * The ids of recently delivered frames, so that a frame the server re-sends (its
 * acknowledgment timer fired before our acknowledgment arrived) reaches the app once.
 * Bounded: the oldest ids are forgotten first.
 */
export class RecentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity = 10_000) {}

  /** True the first time an id is seen. */
  firstSight(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value as string);
    return true;
  }
}
