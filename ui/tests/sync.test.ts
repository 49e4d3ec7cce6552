import { describe, expect, it } from "vitest";
import { changesData, describe as say, initialSync, reduce } from "../src/lib/sync";
import { blankDraft, changes, toInput, draftOf } from "../src/lib/contactForm";
import type { Contact, SyncStatus } from "../src/api/types";

const status: SyncStatus = { last_seq: 10, pending: 0, last_sync_at: "2026-11-25T12:00:00Z", rejections: 0, conflicts: 0 };

describe("sync state", () => {
  it("follows the sync task's events", () => {
    let s = reduce(initialSync, { kind: "syncing", full: false });
    expect(say(s)).toBe("Syncing…");
    s = reduce(s, { kind: "progress", applied: 1200, last_seq: 1200 });
    expect(say(s)).toBe("Syncing… 1,200 received");
    s = reduce(s, { kind: "synced", applied: 0, rejected: 0, pulled: 1200, status });
    expect(say(s)).toBe("Up to date");
    s = reduce({ ...s, pending: 3 }, { kind: "offline", error: "unreachable", retry_in_ms: 2000 });
    expect(s.online).toBe(false);
    expect(say(s)).toBe("Offline · 3 waiting");
    s = reduce(s, { kind: "online" });
    expect(say(s)).toBe("3 changes waiting");
    s = reduce(s, { kind: "signed_out", message: "membership removed" });
    expect(say(s)).toBe("Signed out — sign in again");
  });

  it("refreshes screens only when data changed", () => {
    expect(changesData({ kind: "synced", applied: 0, rejected: 0, pulled: 0, status })).toBe(false);
    expect(changesData({ kind: "synced", applied: 1, rejected: 0, pulled: 0, status })).toBe(true);
    expect(changesData({ kind: "progress", applied: 5, last_seq: 5 })).toBe(false);
  });
});

describe("contact form", () => {
  it("sends only what is filled in", () => {
    const input = toInput({ ...blankDraft, name: "  Carol Client ", email: "", tags: "buyer, , referral" });
    expect(input).toMatchObject({ name: "Carol Client", email: null, tags: ["buyer", "referral"], next_follow_up_at: null });
  });

  it("sends only changed fields on edit; a cleared field becomes null", () => {
    const c = {
      id: "c1", organization_id: "o", name: "Carol", email: "carol@example.com", phone: "+1 415 555 0100",
      company: null, position: null, contact_type: "CLIENT", status: "ACTIVE", notes: null, tags: ["buyer"],
      assigned_to_id: null, next_follow_up_at: null, last_contact_at: null, created_by: "u",
      created_at: "", updated_at: "", assignee_name: null,
    } as Contact;
    const before = draftOf(c);
    expect(changes(before, { ...before, phone: "", status: "INACTIVE" })).toEqual({ phone: null, status: "INACTIVE" });
    expect(changes(before, before)).toEqual({});
  });
});
