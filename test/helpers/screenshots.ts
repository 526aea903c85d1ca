import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where a test's screenshot goes: outside the tree, so that a test run leaves `git status`
 * clean. `CONVEYOR_UPDATE_SCREENSHOTS=1 npm test` writes the README's tracked ones instead.
 */
export function screenshotPath(name: string): string {
  const dir = process.env['CONVEYOR_UPDATE_SCREENSHOTS'] === '1' ? fileURLToPath(new URL('../../../test/artifacts/', import.meta.url)) : join(tmpdir(), 'conveyor-screenshots');
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}
