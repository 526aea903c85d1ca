// Bundles the browser code: the client, which the demo page and apps load, and the
// libraries the Pusher demo and the dashboard use, from npm, so no page needs a CDN.
import { build } from 'esbuild';

const browser = { bundle: true, format: 'esm', platform: 'browser', target: 'es2020', minify: true, logLevel: 'warning' };

const result = await build({
  ...browser,
  entryPoints: ['src/client/browser.ts'],
  outfile: 'dist/client/conveyor-client.js',
  sourcemap: true,
  metafile: true,
});

// The browser entry must stay free of Node: one stray import of `ws` or a node: module
// would break every page that loads the bundle.
const foreign = Object.keys(result.metafile.inputs).filter((input) => !input.startsWith('src/client/') || input.includes('node'));
if (foreign.length > 0) {
  console.error(`build-client: the browser bundle pulls in ${foreign.join(', ')}`);
  process.exit(1);
}

// The Pusher demo page's bundle: laravel-echo on pusher-js's browser build.
await build({ ...browser, entryPoints: ['src/demo/pusher-bundle.ts'], outfile: 'dist/client/pusher-demo.js' });

// The live dashboard's chart library (uPlot) and its stylesheet.
await build({ ...browser, entryPoints: ['src/dashboard/uplot-bundle.ts', 'node_modules/uplot/dist/uPlot.min.css'], outdir: 'dist/client', entryNames: '[name]' });
