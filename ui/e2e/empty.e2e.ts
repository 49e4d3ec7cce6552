import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { launch, open } from "./browser";
import { readyBackend } from "./backend";

let browser: Browser;
beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

// A new organization: every screen with nothing in it yet, and it settles (no render loop).
describe("a new organization", () => {
  it("shows empty contacts and settles", async () => {
    const { page, calls } = await open(browser, {
      ...readyBackend(),
      contacts: () => ({ total: 0, items: [] }),
    }, "#/contacts");
    await page.getByText("No contacts yet").waitFor();
    const before = calls.length;
    await page.waitForTimeout(1500);
    expect(calls.length - before).toBeLessThan(5);
    await page.locator(".page-head .btn-primary").click({ timeout: 5000 });
    await page.locator("input[name=name]").waitFor();
    await page.close();
  });
});
