import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One PostgreSQL for the whole run; see test/harness/global-setup.ts.
    globalSetup: ['test/harness/global-setup.ts'],
    // Child processes and native modules (libpg-query) are safer in processes than in threads.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 20_000,
    // A failing end-to-end test should say why, not hang the suite.
    bail: 0,
  },
});
