import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A function's share of a process's busy time, from a V8 CPU profile. */
export interface ProfileEntry {
  /** Function name, or what V8 calls time outside JavaScript: (program), (garbage collector). */
  name: string;
  /** file:line, the file's name only; empty for V8's own entries. */
  where: string;
  /** Share of the busy samples spent in the function itself. */
  self: number;
  /** Share of the busy samples with the function on the stack. */
  total: number;
}

export interface ProfileSummary {
  /** Share of the profile's samples that were not idle. */
  busy: number;
  /** The heaviest functions by self time, then any heavy by total time that is not among them. */
  top: ProfileEntry[];
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
}

/** The profile `node --cpu-prof` wrote for process `pid`'s main thread in `dir`, if any. */
export function profileOf(dir: string, pid: number): string | undefined {
  // CPU.<date>.<time>.<pid>.<thread>.<sequence>.cpuprofile: thread 0 is the main thread.
  const name = readdirSync(dir).find((file) => file.endsWith('.cpuprofile') && file.split('.')[3] === String(pid) && file.split('.')[4] === '0');
  return name === undefined ? undefined : join(dir, name);
}

/** Where a process spent its busy time: self and inclusive shares of its heaviest functions. */
export function summarizeCpuProfile(path: string, selfCount = 10, totalCount = 6): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const keyOf = (id: number): string => {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const file = url.split('/').pop() ?? '';
    return `${functionName || '(anonymous)'}\u0000${file ? `${file}:${lineNumber + 1}` : ''}`;
  };
  const samplesOf = new Map<number, number>();
  for (const id of profile.samples) samplesOf.set(id, (samplesOf.get(id) ?? 0) + 1);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let idle = 0;
  for (const [id, count] of samplesOf) {
    const key = keyOf(id);
    if (key.startsWith('(idle)')) {
      idle += count;
      continue;
    }
    self.set(key, (self.get(key) ?? 0) + count);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = keyOf(at);
      if (k.startsWith('(root)') || seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + count);
    }
  }
  const busy = profile.samples.length - idle;
  const entry = (key: string): ProfileEntry => {
    const [name, where] = key.split('\u0000') as [string, string];
    return { name, where, self: (self.get(key) ?? 0) / busy, total: (total.get(key) ?? 0) / busy };
  };
  const bySelf = [...self.keys()].sort((a, b) => self.get(b)! - self.get(a)!).slice(0, selfCount);
  const byTotal = [...total.keys()]
    .filter((key) => !bySelf.includes(key) && !key.startsWith('(program)') && !key.startsWith('processImmediate') && !key.startsWith('processTicksAndRejections'))
    .sort((a, b) => total.get(b)! - total.get(a)!)
    .slice(0, totalCount);
  return { busy: profile.samples.length > 0 ? busy / profile.samples.length : 0, top: [...bySelf, ...byTotal].map(entry) };
}
