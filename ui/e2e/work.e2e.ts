import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { launch, open, shot } from "./browser";
import { CommandError, permissions, readyBackend } from "./backend";

let browser: Browser;
beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

describe("deals", () => {
  it("lists deals and adds one", async () => {
    const { page, calls } = await open(browser, readyBackend(), "#/deals");
    await page.getByText("48 Harbor View Drive — purchase").waitFor();
    await shot(page, "deals");
    await page.getByRole("button", { name: "+ New deal" }).click();
    await page.fill("input[name=title]", "7 Maple Court — listing");
    await page.fill("input[name=value]", "abc");
    await page.getByRole("button", { name: "Add deal" }).click();
    await page.getByText("Enter an amount").waitFor();
    await page.fill("input[name=value]", "$625,000");
    await page.getByRole("button", { name: "Add deal" }).click();
    await page.getByText("Added deal 7 Maple Court — listing").waitFor();
    expect((calls.find((c) => c.cmd === "create_deal")?.args.input as { value_cents: number }).value_cents).toBe(62_500_000);
    await page.close();
  });
});

describe("transaction loops", () => {
  it("creates a loop and shows its four tasks; ticking one completes it", async () => {
    const { page, calls } = await open(browser, readyBackend(), "#/loops");
    await page.getByText("12 Elm Street, Portland, OR").waitFor();
    await page.getByText("1/4 tasks").waitFor();
    await shot(page, "loops");
    await page.getByRole("button", { name: "+ New loop" }).click();
    await page.fill("input[name=address]", "22 Orchard Lane, Portland, OR");
    await page.fill("input[name=price]", "515,000");
    await page.getByRole("button", { name: "Create loop" }).click();
    await page.getByRole("heading", { name: "22 Orchard Lane, Portland, OR" }).waitFor();
    for (const t of ["Initial Consultation", "Property Inspection", "Offer Review", "Final Walkthrough"]) {
      await page.getByText(t).waitFor();
    }
    await shot(page, "loop-detail");
    await page.getByRole("checkbox", { name: "Initial Consultation" }).click();
    await page.waitForFunction(() => document.querySelector(".check-item.done"));
    expect(calls.find((c) => c.cmd === "set_task_status")?.args.status).toBe("DONE");
    await page.close();
  });

  it("says so when a loop is not on this device", async () => {
    const { page } = await open(browser, readyBackend(), "#/loops/nope");
    await page.getByText("That loop is not on this device").waitFor();
    await page.close();
  });

  it("shows the tier's reason when transactions are not included", async () => {
    const reason = "Upgrade to STARTER tier to access transaction features";
    const { page } = await open(browser, {
      ...readyBackend(),
      permissions: () => permissions("OWNER", { viewLoops: reason, createLoop: reason }),
      loops: () => { throw new CommandError({ code: "denied", message: reason }); },
    }, "#/loops");
    await page.getByText(reason).first().waitFor();
    expect(await page.getByRole("button", { name: "+ New loop" }).isDisabled()).toBe(true);
    await page.close();
  });
});
