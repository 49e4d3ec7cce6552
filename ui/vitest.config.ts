import { defineConfig } from "vitest/config";

// Unit tests of the UI's logic (pure functions); the screens are tested in a real browser by
// e2e/ (Playwright against the mocked IPC).
export default defineConfig({
  test: { include: ["tests/**/*.test.ts"], environment: "node" },
});
