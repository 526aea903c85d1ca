import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);

/** A uWebSockets.js native build the server can run on, in the order they are tried. */
interface NativeBuild {
  /** What the user installs and reads in errors. */
  readonly label: string;
  readonly module: string;
  /** Node ABIs (process.versions.modules) the build ships binaries for. */
  readonly abis: readonly string[];
  readonly nodes: string;
  readonly glibc: string;
}

export const NATIVE_BUILDS: readonly NativeBuild[] = [
  { label: '@trufflesuite/uws-js-unofficial 20.30', module: 'uWebSockets.js', abis: ['93', '108', '115'], nodes: 'Node 16–20', glibc: '2.27' },
  { label: '@btc-vision/uwebsockets.js 20.57', module: '@btc-vision/uwebsockets.js', abis: ['115', '127', '137', '141'], nodes: 'Node 20–25', glibc: '2.38' },
];

/** The glibc version of this process, or undefined on musl and other C libraries. */
function glibcVersion(): string | undefined {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime;
}

/** The native binding exports SSLApp and getParts; trufflesuite's fallback exports only App. */
export function isNativeBinding(uws: unknown): boolean {
  const candidate = uws as Partial<typeof UWS>;
  return typeof candidate.SSLApp === 'function' && typeof candidate.getParts === 'function';
}

/** Why a build did not load, in a few words (the loader's own message can be a page long). */
function reasonOf(build: NativeBuild, error: unknown, warnings: string[]): string {
  const text = `${error === undefined ? '' : ((error as Error).message ?? String(error))} ${warnings.join(' ')}`;
  const glibc = /GLIBC_(\d+\.\d+)' not found/.exec(text);
  if (glibc) return `needs glibc ${glibc[1]} or newer`;
  if (/Cannot find module/.test(text) && text.includes(build.module)) return 'not installed (an optional dependency: run npm install)';
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

/**
 * Loads the first uWebSockets.js native build that fits this Node ABI, platform and C
 * library, and refuses every pure-JS fallback: trufflesuite's package silently swaps in a
 * slow `ws`-based server when its native build does not load, and a production server must
 * not run ten times slower without saying so. Only this module knows the builds.
 */
function loadNative(): { uws: typeof UWS; build: NativeBuild } {
  const abi = process.versions.modules;
  const reasons: string[] = [];
  for (const build of NATIVE_BUILDS) {
    if (!build.abis.includes(abi)) {
      reasons.push(`${build.label}: built for ${build.nodes} (ABI ${build.abis.join(', ')}), not ABI ${abi}`);
      continue;
    }
    // The packages explain their failures on the console; that text goes into the one-line error instead.
    const originals = { log: console.log, warn: console.warn, error: console.error };
    const warnings: string[] = [];
    console.log = console.warn = console.error = (...args: unknown[]) => void warnings.push(args.map(String).join(' '));
    try {
      const candidate = require(build.module) as typeof UWS;
      if (isNativeBinding(candidate)) return { uws: candidate, build };
      const said = reasonOf(build, undefined, warnings);
      reasons.push(`${build.label}: uWebSockets.js native binding did not load; refusing the slow pure-JS fallback${said ? ` (${said})` : ''}`);
    } catch (error) {
      reasons.push(`${build.label}: ${reasonOf(build, error, warnings)}`);
    } finally {
      Object.assign(console, originals);
    }
  }
  const libc = glibcVersion();
  throw new Error(
    `no native uWebSockets.js build fits Node ${process.version} (ABI ${abi}) on ${process.platform}-${process.arch} with ${libc ? `glibc ${libc}` : 'a C library other than glibc'}: ` +
      `${reasons.join('; ')}. Run Node 20 on glibc 2.27+, or Node 22 or 24 on glibc 2.38+ (Debian 13, Ubuntu 24.04 or newer), on linux, macOS or Windows x64/arm64.`,
  );
}

const loaded = loadNative();
export const uws = loaded.uws;
/** Which native build serves, and on which Node: /health reports it. */
export const runtime = { node: process.version, uws: loaded.build.label };
export type { UWS };
