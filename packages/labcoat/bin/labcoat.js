#!/usr/bin/env node
import('../dist/src/cli.js').catch((e) => {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('labcoat is not built yet: run `npm install` (which builds) or `npm run build` in the repository root.');
    process.exit(2);
  }
  throw e;
});
