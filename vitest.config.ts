import { defineConfig } from 'vitest/config';

// Three tiers (STYLE.md "Tests"): unit runs anywhere without root; integration and e2e
// drive the real runtime, CNI plugins and kernel objects as root, one file at a time so
// that tests never race each other for host objects.
export default defineConfig({
  test: {
    restoreMocks: true,
    unstubEnvs: true,
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node' } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
