import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { envName, OPTIONS } from '../src/config.js';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');

test('the README option table documents every option exactly once, with its default and environment name', () => {
  const rows = readme.split('\n').filter((line) => /^\| `--[a-z-]+` \|/.test(line));
  const flags = rows.map((row) => /^\| `--([a-z-]+)`/.exec(row)![1]!);
  assert.deepEqual(flags, [...OPTIONS.map((o) => o.flag), 'config'], 'one row per option, in the CLI order');
  for (const spec of OPTIONS) {
    const row = rows.find((r) => r.startsWith(`| \`--${spec.flag}\` |`))!;
    const cells = row.split(' | ');
    assert.equal(cells[1], `\`${spec.default === undefined ? 'none' : Array.isArray(spec.default) ? JSON.stringify(spec.default) : String(spec.default)}\``, `default of --${spec.flag}`);
    assert.equal(cells[2], `\`${envName(spec)}\``, `environment name of --${spec.flag}`);
  }
});

test('the README shows the custom-action example exactly as the file the tests run', () => {
  const example = readFileSync(new URL('docs/examples/custom-action.ts', root), 'utf8').trimEnd();
  assert.ok(readme.includes('```ts\n' + example + '\n```'), 'README code block matches docs/examples/custom-action.ts');
});

test('the README shows the chat example (a WebSocket app) exactly as the file the tests run', () => {
  const example = readFileSync(new URL('docs/examples/chat.ts', root), 'utf8').trimEnd();
  assert.ok(readme.includes('```ts\n' + example + '\n```'), 'README code block matches docs/examples/chat.ts');
});

test('the README has exactly the two set-up commands, and .ci/run runs the test one', () => {
  const blocks = [...readme.matchAll(/```sh\n([^`]*)```/g)].map((m) => m[1]!.trim());
  assert.deepEqual(blocks, ['npm install && npm start', 'npm install && npm test']);
  const ci = readFileSync(new URL('.ci/run', root), 'utf8');
  assert.match(ci, /^npm install && npm test$/m);
});
