#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm ci` / `npm install` (the `prepare` script).
import('../dist/src/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('troupe: the CLI is not built; run `npm ci` (or `npm run build`) first');
    process.exit(2);
  }
  throw err;
});
