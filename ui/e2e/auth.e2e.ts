import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { launch, open, shot } from "./browser";
import { CommandError, permissions, profile, readyBackend } from "./backend";

let browser: Browser;
beforeAll(async () => { browser = await launch(); });
afterAll(async () => { await browser?.close(); });

const welcome = { phase: "welcome", default_server: "http://127.0.0.1:8787", last_email: null };

describe("first run", () => {
  it("signs up with a new organization and lands on the dashboard", async () => {
    const { page, calls } = await open(browser, {
      ...readyBackend(),
      app_status: () => welcome,
      sign_up: () => ({ phase: "ready", profile }),
    });
    await page.getByRole("tab", { name: "Create account" }).waitFor();
    await shot(page, "welcome");
    await page.fill("input[name=name]", "Ann Lee");
    await page.fill("input[name=email]", "ann@harborpine.example");
    await page.fill("input[name=password]", "correct horse battery");
    await page.fill("input[name=organization]", "Harbor & Pine Realty");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    const signUp = calls.find((c) => c.cmd === "sign_up");
    expect(signUp?.args).toEqual({
      credentials: {
        server_url: "http://127.0.0.1:8787", email: "ann@harborpine.example",
        password: "correct horse battery", name: "Ann Lee", organization: "Harbor & Pine Realty",
      },
    });
    // The password is not kept in the page once the call is made.
    expect(await page.evaluate(() => document.body.innerHTML.includes("correct horse battery"))).toBe(false);
    await page.close();
  });

  it("shows field errors and server refusals as readable messages", async () => {
    let attempt = 0;
    const { page } = await open(browser, {
      app_status: () => welcome,
      sign_in: () => {
        attempt++;
        if (attempt === 1) throw new CommandError({ code: "invalid", message: "Some fields need attention", fields: [{ field: "email", message: "is not a valid email address" }] });
        throw new CommandError({ code: "unauthorized", message: "Wrong email or password" });
      },
    });
    await page.getByRole("tab", { name: "Sign in" }).click();
    await page.fill("input[name=email]", "ann@");
    await page.fill("input[name=password]", "x");
    await page.getByRole("button", { name: "Sign in" }).last().click();
    await page.getByText("Is not a valid email address").waitFor();
    await page.fill("input[name=email]", "ann@harborpine.example");
    await page.getByRole("button", { name: "Sign in" }).last().click();
    await page.getByRole("alert").getByText("Wrong email or password").waitFor();
    await shot(page, "signin-error");
    await page.close();
  });
});

describe("unlock", () => {
  it("asks for the password when the keychain cannot open the data, and says when it is wrong", async () => {
    let tries = 0;
    const { page } = await open(browser, {
      ...readyBackend(),
      app_status: () => ({ phase: "locked", email: profile.email, server_url: profile.server_url }),
      unlock: (a) => {
        tries++;
        if (a.password !== "correct horse battery") throw new CommandError({ code: "wrong_password", message: "That password is not right" });
        return { phase: "ready", profile };
      },
    });
    await page.getByRole("heading", { name: "Welcome back" }).waitFor();
    await page.fill("input[name=password]", "nope");
    await page.getByRole("button", { name: "Unlock" }).click();
    await page.getByText("That password is not right").waitFor();
    await shot(page, "unlock");
    await page.fill("input[name=password]", "correct horse battery");
    await page.getByRole("button", { name: "Unlock" }).click();
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    expect(tries).toBe(2);
    await page.close();
  });
});

describe("organizations", () => {
  it("creates the first organization from the set-up screen", async () => {
    const { page, calls } = await open(browser, {
      ...readyBackend(),
      app_status: () => ({ phase: "ready", profile: { ...profile, organizations: [], current_org: null } }),
      create_org: () => ({ phase: "ready", profile }),
    });
    await page.getByRole("heading", { name: "Set up your workspace" }).waitFor();
    await shot(page, "no-organization");
    await page.fill("input[name=org-name]", "Harbor & Pine Realty");
    await page.fill("input[name=password]", "correct horse battery");
    await page.getByRole("button", { name: "Create organization" }).click();
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    expect(calls.find((c) => c.cmd === "create_org")?.args.name).toBe("Harbor & Pine Realty");
    await page.close();
  });

  it("shows role and tier, and switches organization", async () => {
    const other = profile.organizations[1]!;
    const { page, calls } = await open(browser, {
      ...readyBackend(),
      permissions: () => permissions("OWNER"),
      switch_org: () => ({ phase: "ready", profile: { ...profile, current_org: other.organization_id } }),
    });
    const button = page.getByRole("button", { name: "Switch organization" });
    await button.getByText("Owner").waitFor();
    await button.getByText("Growth").waitFor();
    await button.click();
    await page.getByRole("menuitem", { name: /Side Projects LLC/ }).click();
    await page.getByRole("button", { name: "Switch organization" }).getByText("Side Projects LLC").waitFor();
    expect(calls.find((c) => c.cmd === "switch_org")?.args.org).toBe(other.organization_id);
    await page.close();
  });
});
