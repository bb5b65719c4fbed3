import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Renders and real servers take seconds, not milliseconds.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: renders in parallel files would only fight for them.
    maxWorkers: 2,
    // The AWS SDK warns once per process that its 2027 releases will need Node 22; on Node 20 today it is noise in test output.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
