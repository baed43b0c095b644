import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native tree-sitter and child processes behave best in forked workers.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
