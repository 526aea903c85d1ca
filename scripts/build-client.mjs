// Bundles the browser client into one ESM file that the demo page and apps can load.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/client/browser.ts'],
  outfile: 'dist/client/conveyor-client.js',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  sourcemap: true,
  minify: true,
  logLevel: 'warning',
});
