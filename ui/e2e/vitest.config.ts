import { defineConfig } from "vitest/config";

// Browser tests: the real UI in Debian's Chromium (playwright-core), the shell mocked at the
// IPC boundary. One browser at a time: these machines have two cores.
export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.ts"],
    environment: "node",
    globalSetup: ["e2e/server.ts"],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
