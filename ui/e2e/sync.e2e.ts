import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { launch, open, shot } from "./browser";
import { CommandError, permissions, readyBackend, syncView } from "./backend";

let browser: Browser;
beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

describe("sync panel", () => {
  it("follows the sync events: offline with changes waiting, then Sync now", async () => {
    let view = syncView(0, true);
    const { page, calls, emitSync } = await open(browser, { ...readyBackend(), sync_status: () => view }, "#/sync");
    await page.getByTestId("connection").getByText("Online").waitFor();
    view = syncView(2, false);
    await emitSync({ kind: "offline", error: "the server could not be reached", retry_in_ms: 4000 });
    await page.getByTestId("connection").getByText("Offline").waitFor();
    await page.getByTestId("pending").getByText("2").waitFor();
    await page.getByTestId("sync-indicator").getByText("Offline · 2 waiting").waitFor();
    await shot(page, "sync-offline");
    await page.getByTestId("sync-now").click();
    await page.getByText("Syncing now…").waitFor();
    expect(calls.some((c) => c.cmd === "sync_now")).toBe(true);
    view = syncView(0, true);
    await emitSync({ kind: "synced", applied: 2, rejected: 0, pulled: 3, status: view.status });
    await page.getByTestId("connection").getByText("Online").waitFor();
    await page.getByTestId("sync-indicator").getByText("Up to date").waitFor();
    await page.close();
  });

  it("lists conflicts and refused changes with their reasons", async () => {
    const { page } = await open(browser, {
      ...readyBackend(),
      sync_issues: () => ({
        rejections: [{ client_seq: 7, mutation: "createLoop", code: "forbidden_tier", message: "Upgrade to STARTER tier to access transaction features", at: new Date().toISOString() }],
        conflicts: [{ id: "k1", entity_type: "contact", entity_id: "c1", entity_label: "Olivia Carter", field: "phone", lost_value: "+1 415 555 0101", winning_value: "+1 415 555 0199", winner_user_id: "u2", winner_name: "Ben Ortiz", at: new Date().toISOString() }],
      }),
    }, "#/sync");
    await page.getByText("Upgrade to STARTER tier to access transaction features").waitFor();
    await page.getByText(/Your phone of Olivia Carter/).waitFor();
    await page.getByText(/Ben Ortiz's “\+1 415 555 0199”/).waitFor();
    await shot(page, "sync-issues");
    await page.close();
  });

  it("gives admins the device list and the ask-all-devices control", async () => {
    const { page, calls } = await open(browser, readyBackend(), "#/sync");
    await page.getByRole("table", { name: "Device list" }).getByText("Ann's laptop").waitFor();
    await page.getByRole("button", { name: "Ask all devices to sync" }).click();
    await page.getByText("Asked every online device to sync now").waitFor();
    expect(calls.find((c) => c.cmd === "request_sync_all")?.args.full).toBe(false);
    await page.close();
  });

  it("tells members why they cannot see devices", async () => {
    const reason = "Your role in this organization (MEMBER) cannot see devices' sync state; ask an owner or admin";
    const { page, calls } = await open(browser, {
      ...readyBackend(),
      permissions: () => permissions("MEMBER", { viewDevices: reason, requestSync: reason }),
      devices: () => { throw new CommandError({ code: "denied", message: reason }); },
    }, "#/sync");
    await page.getByText(reason).waitFor();
    expect(calls.some((c) => c.cmd === "devices")).toBe(false);
    await page.close();
  });
});
