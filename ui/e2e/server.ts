import { createServer, type ViteDevServer } from "vite";
import type { TestProject } from "vitest/node";
import { fileURLToPath } from "node:url";

// Serves the UI (and e2e/harness.html) with Vite for the whole run.
let server: ViteDevServer | undefined;

export async function setup(project: TestProject) {
  server = await createServer({
    root: fileURLToPath(new URL("..", import.meta.url)),
    configFile: fileURLToPath(new URL("../vite.config.ts", import.meta.url)),
    server: { port: 0, strictPort: false, host: "127.0.0.1" },
    logLevel: "warn",
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === "string") throw new Error("no address for the UI server");
  project.provide("uiUrl", `http://127.0.0.1:${address.port}/e2e/harness.html`);
}

export async function teardown() {
  await server?.close();
}

declare module "vitest" {
  export interface ProvidedContext {
    uiUrl: string;
  }
}
