// Bundles the browser client into one ESM file that the demo page and apps can load.
import { build } from 'esbuild';

const result = await build({
  entryPoints: ['src/client/browser.ts'],
  outfile: 'dist/client/conveyor-client.js',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  sourcemap: true,
  minify: true,
  metafile: true,
  logLevel: 'warning',
});

// The browser entry must stay free of Node: one stray import of `ws` or a node: module
// would break every page that loads the bundle.
const foreign = Object.keys(result.metafile.inputs).filter((input) => !input.startsWith('src/client/') || input.includes('node'));
if (foreign.length > 0) {
  console.error(`build-client: the browser bundle pulls in ${foreign.join(', ')}`);
  process.exit(1);
}

// The Pusher demo page's bundle: laravel-echo on pusher-js's browser build, from npm.
await build({
  entryPoints: ['src/demo/pusher-bundle.ts'],
  outfile: 'dist/client/pusher-demo.js',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  minify: true,
  logLevel: 'warning',
});

// The live dashboard's chart library (uPlot) and its stylesheet.
await build({
  entryPoints: ['src/dashboard/uplot-bundle.ts', 'node_modules/uplot/dist/uPlot.min.css'],
  outdir: 'dist/client',
  entryNames: '[name]',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  minify: true,
  logLevel: 'warning',
});
