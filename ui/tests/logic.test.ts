import { describe, expect, it } from "vitest";
import { fieldErrors, needsSignIn, summary } from "../src/lib/errors";
import { gate } from "../src/lib/permissions";
import { emptySelection, extend, setAll, toggle } from "../src/lib/selection";
import { locate, pagesFor } from "../src/lib/paging";
import { shortcutFor } from "../src/lib/shortcuts";
import { parseRoute } from "../src/lib/router";
import { describeActivity } from "../src/lib/activity";
import { toAppError } from "../src/api/ipc";
import type { Permissions } from "../src/api/types";

describe("errors", () => {
  it("puts validation errors on their fields, first message each", () => {
    const e = { code: "invalid", message: "Some fields need attention", fields: [
      { field: "name", message: "must be at least 2 characters" },
      { field: "name", message: "second" },
      { field: "email", message: "is not a valid email address" },
    ] };
    expect(fieldErrors(e)).toEqual({ name: "Must be at least 2 characters", email: "Is not a valid email address" });
    expect(summary(e)).toBe("Please fix the highlighted fields.");
    expect(summary({ code: "offline", message: "the server cannot be reached" })).toBe("The server cannot be reached");
    expect(needsSignIn({ code: "signed_out", message: "" })).toBe(true);
    expect(needsSignIn({ code: "offline", message: "" })).toBe(false);
  });

  it("never shows a stack trace for an unexpected failure", () => {
    const err = new Error("boom happened\n    at foo (app.js:1:2)\n    at bar (app.js:3:4)");
    expect(toAppError(err)).toEqual({ code: "unexpected", message: "boom happened" });
    expect(toAppError({ code: "denied", message: "no" })).toEqual({ code: "denied", message: "no", fields: undefined });
    expect(toAppError(undefined).message).toBe("Something went wrong");
  });
});

describe("permissions", () => {
  const perms: Permissions = { global_role: "USER", role: "VIEWER", tier: "GROWTH", actions: [
    { action: "viewCrm", allowed: true },
    { action: "createContact", allowed: false, reason: "Your role in this organization (VIEWER) cannot create contacts" },
  ] };
  it("reads the matrix's answer and decides nothing itself", () => {
    expect(gate(perms, "viewCrm")).toEqual({ allowed: true });
    expect(gate(perms, "createContact")).toEqual({ allowed: false, reason: "Your role in this organization (VIEWER) cannot create contacts" });
    expect(gate(perms, "somethingNew").allowed).toBe(false);
    expect(gate(undefined, "viewCrm").allowed).toBe(false);
  });
});

describe("selection", () => {
  const ids = ["a", "b", "c", "d", "e"];
  it("toggles and extends ranges with shift", () => {
    let s = toggle(emptySelection, "b", 1);
    s = extend(s, 3, (i) => ids[i]);
    expect([...s.ids].sort()).toEqual(["b", "c", "d"]);
    s = toggle(s, "c", 2);
    expect([...s.ids].sort()).toEqual(["b", "d"]);
    s = extend(s, 0, (i) => ids[i]);
    expect([...s.ids].sort()).toEqual(["a", "b", "c", "d"]);
    expect([...setAll(["a", "e"], false, s).ids].sort()).toEqual(["b", "c", "d"]);
  });
  it("skips rows not loaded yet", () => {
    const s = extend(toggle(emptySelection, "a", 0), 4, (i) => (i === 2 ? undefined : ids[i]));
    expect([...s.ids].sort()).toEqual(["a", "b", "d", "e"]);
  });
});

describe("paging", () => {
  it("asks only for the pages on screen", () => {
    expect(pagesFor(0, 30, 100_000)).toEqual([0]);
    expect(pagesFor(190, 230, 100_000)).toEqual([0, 1]);
    expect(pagesFor(99_950, 100_010, 100_000)).toEqual([499]);
    expect(pagesFor(0, 10, 0)).toEqual([]);
    expect(locate(99_999)).toEqual({ page: 499, offset: 199 });
  });
});

describe("shortcuts", () => {
  it("maps keys to actions, but not while typing", () => {
    expect(shortcutFor({ key: "/", inField: false }, false)).toBe("search");
    expect(shortcutFor({ key: "k", ctrl: true, inField: true }, false)).toBe("search");
    expect(shortcutFor({ key: "n", inField: false }, false)).toBe("new");
    expect(shortcutFor({ key: "n", inField: true }, false)).toBeNull();
    expect(shortcutFor({ key: "c", inField: false }, true)).toEqual({ go: "contacts" });
    expect(shortcutFor({ key: "x", inField: false }, true)).toBeNull();
  });
});

describe("routes", () => {
  it("reads the screen and id from the hash", () => {
    expect(parseRoute("")).toEqual({ screen: "dashboard", id: null });
    expect(parseRoute("#/loops/abc")).toEqual({ screen: "loops", id: "abc" });
    expect(parseRoute("#/contacts")).toEqual({ screen: "contacts", id: null });
  });
});

describe("activity lines", () => {
  it("names who did what to which record", () => {
    const a = { id: "1", user_id: "u", user_name: "Ann Lee", action: "CREATE", entity_type: "transaction_loop", entity_id: "l", new_values: { property_address: "12 Elm Street" }, created_at: "" };
    expect(describeActivity(a)).toEqual({ who: "Ann Lee", text: "create transaction “12 Elm Street”" });
    expect(describeActivity({ ...a, user_name: "", entity_type: "contact", new_values: null }).who).toBe("Someone");
  });

  it("does not repeat a kind the action already names", () => {
    const a = { id: "1", user_id: "u", user_name: "Ann Lee", action: "uploaded_document", entity_type: "document", entity_id: "d", new_values: { file_name: "offer.pdf", version: 2 }, created_at: "" };
    expect(describeActivity(a).text).toBe("uploaded document “offer.pdf”");
    expect(describeActivity({ ...a, action: "completed_task", entity_type: "transaction_task", new_values: { status: "DONE" } }).text).toBe("completed task");
    expect(describeActivity({ ...a, action: "updated_progress", entity_type: "transaction_loop", new_values: { progress: 25 } }).text).toBe("updated progress of transaction");
    expect(describeActivity({ ...a, action: "bulk_assigned", entity_type: "contact", new_values: {} }).text).toBe("bulk assigned contact");
    expect(describeActivity({ ...a, action: "created", entity_type: "contact", new_values: { name: "Carol" } }).text).toBe("created contact “Carol”");
  });
});
