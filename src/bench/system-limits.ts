import { readFileSync } from 'node:fs';

/** Sockets and files the generator needs beside its connections (stdio, threads, HTTP). */
const SPARE_FILES = 64;

/** This process's open-file limit (soft, hard), or undefined where /proc does not say. */
export function openFileLimit(): { soft: number; hard: number } | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [soft, hard] = (line?.slice('Max open files'.length).trim().split(/\s+/) ?? []).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
    return soft !== undefined && hard !== undefined && !Number.isNaN(soft) && !Number.isNaN(hard) ? { soft, hard } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why this process cannot hold `sockets` connections, with what to do about it; undefined
 * when it can. Checked before the run, so a storm does not end in a wall of EMFILE.
 */
export function openFileProblem(sockets: number): string | undefined {
  const limit = openFileLimit();
  if (!limit || sockets + SPARE_FILES <= limit.soft) return undefined;
  const need = sockets + SPARE_FILES;
  const raise =
    need <= limit.hard
      ? `raise it first with \`ulimit -n ${need}\` (the hard limit here is ${limit.hard})`
      : `the hard limit is ${limit.hard}: run several bench processes with fewer --connections each, or raise the hard limit as root`;
  return `${sockets} connections need about ${need} open files, but this process may open ${limit.soft}: ${raise}.`;
}
