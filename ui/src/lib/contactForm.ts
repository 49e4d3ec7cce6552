import type { Contact, ContactInput, ContactStatus, ContactType } from "../api/types";

/** The contact form's fields, as typed (strings). */
export interface ContactDraft {
  name: string; email: string; phone: string; company: string; position: string;
  contact_type: ContactType; status: ContactStatus; tags: string; notes: string; follow_up: string;
}

export const blankDraft: ContactDraft = {
  name: "", email: "", phone: "", company: "", position: "", contact_type: "PROSPECT",
  status: "ACTIVE", tags: "", notes: "", follow_up: "",
};

export function draftOf(c: Contact): ContactDraft {
  return {
    name: c.name, email: c.email ?? "", phone: c.phone ?? "", company: c.company ?? "",
    position: c.position ?? "", contact_type: c.contact_type, status: c.status,
    tags: c.tags.join(", "), notes: c.notes ?? "",
    follow_up: c.next_follow_up_at ? toLocalInput(c.next_follow_up_at) : "",
  };
}

/** `2026-12-01T09:00:00Z` -> the `datetime-local` input's local `2026-12-01T10:00`. */
export function toLocalInput(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function tags(s: string): string[] {
  return s.split(",").map((t) => t.trim()).filter(Boolean);
}

function followUp(s: string): string | null {
  if (!s.trim()) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toISOString();
}

/** What `create_contact` takes. Empty optional fields are left out (validation is the shell's). */
export function toInput(d: ContactDraft): ContactInput {
  const opt = (s: string) => (s.trim() ? s.trim() : null);
  return {
    name: d.name.trim(), email: opt(d.email), phone: opt(d.phone), company: opt(d.company),
    position: opt(d.position), contact_type: d.contact_type, status: d.status, tags: tags(d.tags),
    notes: opt(d.notes), next_follow_up_at: followUp(d.follow_up),
  };
}

/**
 * What `update_contact` takes: only the fields that changed; a cleared optional field is
 * `null` (the shell's nullable changes), an untouched one is absent.
 */
export function changes(before: ContactDraft, after: ContactDraft): Partial<ContactInput> {
  const out: Partial<ContactInput> = {};
  const a = toInput(after);
  const b = toInput(before);
  for (const k of Object.keys(a) as (keyof ContactInput)[]) {
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) {
      (out as Record<string, unknown>)[k] = a[k];
    }
  }
  return out;
}
