import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);

/**
 * Loads uWebSockets.js and refuses its pure-JS fallback: the package silently swaps in a
 * slow `ws`-based server when its native build does not load, and a production server must
 * not run ten times slower without saying so.
 */
function loadNative(): typeof UWS {
  const originalWarn = console.warn;
  const warnings: string[] = [];
  console.warn = (...args: unknown[]) => warnings.push(args.map(String).join(' '));
  let uws: typeof UWS;
  try {
    uws = require('uWebSockets.js') as typeof UWS;
  } finally {
    console.warn = originalWarn;
  }
  if (!isNativeBinding(uws)) {
    throw new Error(
      `uWebSockets.js native binding did not load on Node ${process.version} (${process.platform}-${process.arch}, ABI ${process.versions.modules}); ` +
        `refusing the slow pure-JS fallback. Use Node 20 on glibc 2.36+ and reinstall with npm install. ${warnings.join(' ').trim()}`,
    );
  }
  return uws;
}

/** The native binding exports SSLApp and getParts; the fallback exports only App. */
export function isNativeBinding(uws: unknown): boolean {
  const candidate = uws as Partial<typeof UWS>;
  return typeof candidate.SSLApp === 'function' && typeof candidate.getParts === 'function';
}

export const uws = loadNative();
export type { UWS };
