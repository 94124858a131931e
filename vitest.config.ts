import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: integration files spawn worker threads and child processes of their own.
    maxWorkers: 2,
    // Node 20.19+ enables require(esm); its loader path (isGraphAsync) was seen to abort a test process with a
    // V8 fatal error while modules loaded concurrently. Nothing here needs require(esm).
    execArgv: ['--no-experimental-require-module'],
  },
});
