import { chromium, type Browser, type Page } from "playwright-core";
import { inject } from "vitest";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CommandError, type Handler } from "./backend";

// Debian's Chromium: `npx playwright install` cannot download browsers on these machines.
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = fileURLToPath(new URL("../../target/screenshots/", import.meta.url));

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

export interface Mocked {
  page: Page;
  calls: { cmd: string; args: Record<string, unknown> }[];
  emitSync: (payload: unknown) => Promise<void>;
}

/** Opens the UI with `handlers` answering the shell's commands (an unknown one is an error). */
export async function open(browser: Browser, handlers: Record<string, Handler>, hash = ""): Promise<Mocked> {
  const page = await browser.newPage({ viewport: { width: 1320, height: 860 } });
  const calls: Mocked["calls"] = [];
  const failures: string[] = [];
  page.on("pageerror", (e) => failures.push(e.message));
  // E2E_CONSOLE=1 shows the page's console (debugging a test).
  if (process.env.E2E_CONSOLE) page.on("console", (m) => console.log("page:", m.text().slice(0, 300)));
  await page.exposeFunction("__ipc", async (cmd: string, args: Record<string, unknown>) => {
    calls.push({ cmd, args });
    const h = handlers[cmd];
    if (!h) return { err: { code: "internal", message: `no mock for ${cmd}` } };
    try {
      return { ok: (await h(args)) ?? null };
    } catch (e) {
      if (e instanceof CommandError) return { err: e.err };
      throw e;
    }
  });
  await page.goto(`${inject("uiUrl")}${hash}`);
  return {
    page,
    calls,
    emitSync: (payload) => page.evaluate((p) => window.__emitSync(p), payload),
  };
}

/** Keeps a picture of what the test saw (target/screenshots/ui-NAME.png). */
export async function shot(page: Page, name: string) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}ui-${name}.png` });
}
