import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { launch, open, shot } from "./browser";
import { CommandError, contact, permissions, readyBackend } from "./backend";
import type { ContactQuery } from "../src/api/types";

let browser: Browser;
beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

describe("contacts", () => {
  it("keeps 100,000 contacts smooth: only the rows on screen exist and load", async () => {
    const total = 100_000;
    const { page, calls } = await open(browser, {
      ...readyBackend(),
      contacts: (a) => {
        const q = a.query as ContactQuery;
        const n = Math.max(0, Math.min(q.limit, total - q.offset));
        return { total, items: Array.from({ length: n }, (_, i) => contact(q.offset + i)) };
      },
    }, "#/contacts");
    await page.getByText("100,000 contacts").waitFor();
    await page.getByText("Contact 0", { exact: true }).waitFor();
    const rows = await page.locator(".tbody [role=row]").count();
    expect(rows).toBeGreaterThan(10);
    expect(rows).toBeLessThan(60);
    await page.getByTestId("contacts-scroller").evaluate((el) => { el.scrollTop = el.scrollHeight; });
    await page.getByText("Contact 99999", { exact: true }).waitFor();
    const offsets = calls.filter((c) => c.cmd === "contacts").map((c) => (c.args.query as ContactQuery).offset);
    expect(offsets).toContain(99_800);
    expect(offsets.length).toBeLessThan(10);
    await page.close();
  });

  it("searches as you type, sorts and filters", async () => {
    const { page, calls } = await open(browser, readyBackend(), "#/contacts");
    await page.getByText("40 contacts").waitFor();
    await shot(page, "contacts");
    await page.keyboard.press("/");
    // The shortcut focuses the search on the next tick: typing before that would send "n"
    // (new contact) to the page.
    await page.waitForFunction(() => document.activeElement?.id === "contact-search");
    await page.keyboard.type("Contact 3");
    await page.getByText("11 contacts").waitFor(); // 3 and 30..39
    const last = () => calls.filter((c) => c.cmd === "contacts").at(-1)?.args.query as ContactQuery;
    expect(last().search).toBe("Contact 3");
    await page.getByRole("columnheader", { name: /Name/ }).click();
    await page.waitForFunction(() => document.querySelector("[aria-sort]")?.textContent?.includes("Name"));
    expect(last().sort).toBe("name");
    await page.getByLabel("Status").selectOption("INACTIVE");
    await page.waitForTimeout(50);
    expect(last().status).toBe("INACTIVE");
    await page.close();
  });

  it("adds a contact from the keyboard, with field errors from validation", async () => {
    let first = true;
    const base = readyBackend();
    const { page } = await open(browser, {
      ...base,
      create_contact: (a) => {
        if (first) {
          first = false;
          throw new CommandError({ code: "invalid", message: "Some fields need attention", fields: [{ field: "name", message: "must be at least 2 characters" }, { field: "email", message: "is not a valid email address" }] });
        }
        return base.create_contact!(a);
      },
    }, "#/contacts");
    await page.getByText("40 contacts").waitFor();
    await page.keyboard.press("n");
    await page.getByRole("dialog", { name: "New contact" }).waitFor();
    await page.fill("input[name=name]", "C");
    await page.fill("input[name=email]", "carol@");
    await page.getByRole("button", { name: "Add contact" }).click();
    await page.getByText("Must be at least 2 characters").waitFor();
    await page.getByText("Is not a valid email address").waitFor();
    await shot(page, "contact-form-errors");
    await page.fill("input[name=name]", "Carol Client");
    await page.fill("input[name=email]", "carol@example.com");
    await page.getByRole("button", { name: "Add contact" }).click();
    await page.getByText("Added Carol Client").waitFor();
    await page.getByText("41 contacts").waitFor();
    await page.getByRole("cell", { name: "Carol Client", exact: true }).waitFor();
    await page.close();
  });

  it("bulk-assigns the selected contacts and says how many", async () => {
    const { page, calls } = await open(browser, readyBackend(), "#/contacts");
    await page.getByLabel("Select Contact 1", { exact: true }).click();
    await page.getByLabel("Select Contact 4", { exact: true }).click({ modifiers: ["Shift"] });
    await page.getByText("4 contacts selected").waitFor();
    await page.getByLabel("Assign to").selectOption({ label: "Ben Ortiz" });
    await page.getByRole("button", { name: "Assign", exact: true }).click();
    await page.getByText("Assigned 4 contacts to Ben Ortiz").waitFor();
    await shot(page, "bulk-assign");
    const call = calls.find((c) => c.cmd === "bulk_assign");
    expect((call?.args.contactIds as string[]).length).toBe(4);
    await page.close();
  });

  it("disables what the permissions matrix denies, with its reason", async () => {
    const reason = "Your role in this organization (VIEWER) cannot create contacts; ask an owner or admin";
    const { page } = await open(browser, {
      ...readyBackend(),
      permissions: () => permissions("VIEWER", { createContact: reason }),
    }, "#/contacts");
    const button = page.getByRole("button", { name: "+ New contact" });
    await page.waitForFunction((r) => document.querySelector("button[title]")?.getAttribute("title") === r, reason);
    expect(await button.isDisabled()).toBe(true);
    expect(await button.getAttribute("title")).toBe(reason);
    await page.close();
  });
});
