/**
 * A presence roster goes to a worker once, not once per join. A storm of a thousand sockets
 * joining a channel of 100 members with 6 KB each used to push 600 MB through the IPC pipe,
 * the same 600 KB a thousand times; the rest of the primary's messages to that worker waited
 * behind it. Now the first join answer towards a worker carries the roster's JSON, and the
 * next ones while it is unchanged carry only its key.
 *
 * Both ends keep the same bounded map by the same rule, applied to the same answers in the
 * same order (IPC is FIFO and every answer is read as it arrives), so the worker always has
 * what a key names without being told what to forget.
 */
const KEPT_ROSTERS = 256;

/** A join answer's roster over IPC: the JSON itself, or the key of one the worker already has. */
export interface SharedRoster {
  key: string;
  json?: string;
}

function keep(map: Map<string, string>, key: string, json: string): void {
  map.delete(key);
  map.set(key, json);
  if (map.size > KEPT_ROSTERS) map.delete(map.keys().next().value!);
}

/** The primary's end: what each worker holds. */
export class RosterSender {
  private readonly held = new Map<number, Map<string, string>>();

  /** What to send `worker` for roster `json` of channel `key`. */
  share(worker: number, key: string, json: string): SharedRoster {
    let map = this.held.get(worker);
    if (!map) this.held.set(worker, (map = new Map()));
    if (map.get(key) === json) return { key };
    keep(map, key, json);
    return { key, json };
  }

  dropWorker(worker: number): void {
    this.held.delete(worker);
  }
}

/** A worker's end. */
export class RosterReceiver {
  private readonly held = new Map<string, string>();

  /** The roster's JSON, kept for the next answer that names only its key. */
  take(shared: SharedRoster): string {
    if (shared.json !== undefined) {
      keep(this.held, shared.key, shared.json);
      return shared.json;
    }
    const json = this.held.get(shared.key);
    // Cannot happen while both ends follow the same rule; said loudly if it ever does.
    if (json === undefined) throw new Error(`presence roster ${shared.key} was never sent to this worker`);
    return json;
  }
}
