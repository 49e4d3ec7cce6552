import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { launch, open, shot } from "./browser";
import { activityItem, CommandError, readyBackend } from "./backend";

let browser: Browser;
beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

describe("dashboard", () => {
  it("shows the metrics, the chart, the follow-ups and a live activity feed", async () => {
    const feed = [activityItem("a1", "Olivia Carter", 5)];
    const { page, emitSync, calls } = await open(browser, { ...readyBackend(), activity: () => feed });
    await page.getByText("240").first().waitFor();
    await page.getByText("$14.8M").waitFor();
    await page.locator("[data-testid=status-chart] svg").waitFor();
    await page.getByText("Olivia Carter").first().waitFor();
    await page.getByText("Priya Patel").waitFor();
    // A teammate's change arrives: the shell forwards the sync task's activity event.
    const item = activityItem("a3", "Mateo Garcia", 0);
    feed.unshift(item);
    await emitSync({ kind: "activity", item });
    await page.getByTestId("activity-feed").getByText("Mateo Garcia").waitFor();
    await shot(page, "dashboard");
    expect(calls.some((c) => c.cmd === "ui_ready" && c.args.screen === "dashboard")).toBe(true);
    await page.close();
  });

  it("shows an error readably and recovers on retry", async () => {
    let fail = true;
    const base = readyBackend();
    const { page } = await open(browser, {
      ...base,
      dashboard: (a) => {
        if (fail) throw new CommandError({ code: "internal", message: "Something went wrong on this device; the details are in the log" });
        return base.dashboard!(a);
      },
    });
    await page.getByText("Something went wrong on this device").waitFor();
    expect(await page.locator("body").innerText()).not.toMatch(/at \w+ \(|stack|\.rs:\d+/);
    fail = false;
    await page.getByRole("button", { name: "Try again" }).click();
    await page.getByText("$14.8M").waitFor();
    await page.close();
  });

  it("shows empty states on a new organization", async () => {
    const { page } = await open(browser, {
      ...readyBackend(),
      dashboard: () => ({ total_contacts: 0, contacts_by_status: [], contacts_created_last_7_days: 0, deal_count: 0, deal_value_sum_cents: 0, deal_value_avg_cents: null, upcoming_follow_ups: [] }),
      activity: () => [],
    });
    await page.getByText("No contacts yet").waitFor();
    await page.getByText("Nothing due this week").waitFor();
    await page.getByText("No activity yet").waitFor();
    await page.close();
  });
});
