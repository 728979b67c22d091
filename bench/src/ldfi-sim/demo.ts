/**
 * The demo system (examples/streaming) as a simulated topology, once that example describes its
 * points and bugs (bugs.json, classes.json). Until then: undefined, and the bench leaves the row out.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SimSystem } from './model.js';

export function demoSystem(dir: string): SimSystem | undefined {
  if (!existsSync(join(dir, 'bugs.json')) || !existsSync(join(dir, 'classes.json'))) return undefined;
  return undefined;
}
