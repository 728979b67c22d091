#!/usr/bin/env node
// Runs every compiled test file (packages/*/dist/test/**/*.test.js, examples, bench) with node:test.
// Node 20's --test does not expand globs, so the files are listed here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = ['packages/core/dist/test', 'packages/node/dist/test', 'packages/labcoat/dist/test'];
const filter = process.argv.slice(2);
const files = [];
function walk(dir) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.js') && (filter.length === 0 || filter.some((f) => path.includes(f)))) files.push(path);
  }
}
roots.forEach(walk);
if (files.length === 0) {
  console.error('no test files found; run `npm run build` first');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=600000', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
