import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native tree-sitter and child processes behave best in forked workers.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // A private TMPDIR for the run, which must be empty again at the end.
    globalSetup: ['test/helpers/tmp-guard.ts'],
  },
});
