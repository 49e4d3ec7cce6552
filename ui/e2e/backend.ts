// An in-memory stand-in for the shell's commands, for browser tests of the UI. It keeps just
// enough state for each screen's main action to round-trip; the real shell is tested by the
// real-window test (tests/window.rs).
import type * as T from "../src/api/types";

export type Handler = (args: Record<string, unknown>) => unknown;
export class CommandError {
  constructor(public err: T.AppError) {}
}

const ORG = "01900000-0000-7000-8000-0000000000aa";
const ME = "01900000-0000-7000-8000-0000000000u1";
const BEN = "01900000-0000-7000-8000-0000000000u2";

export const profile: T.Profile = {
  email: "ann@harborpine.example", user_id: ME, server_url: "http://127.0.0.1:8787",
  device_name: "Ann's laptop", global_role: "USER", current_org: ORG,
  organizations: [
    { organization_id: ORG, name: "Harbor & Pine Realty", slug: "harbor-pine", role: "OWNER", tier: "GROWTH" },
    { organization_id: "01900000-0000-7000-8000-0000000000bb", name: "Side Projects LLC", slug: "side", role: "MEMBER", tier: "STARTER" },
  ],
};

const ALL_ACTIONS = [
  "viewCrm", "createContact", "updateContact", "deleteContact", "bulkAssignContacts", "createDeal",
  "updateDeal", "deleteDeal", "viewDashboard", "viewLoops", "createLoop", "updateLoop", "deleteLoop",
  "createTask", "updateTask", "completeTask", "deleteTask", "viewActivity", "viewMembers",
  "inviteMember", "changeMemberRole", "removeMember", "setTier", "createOrganization", "sync",
  "viewDevices", "requestSync", "viewDocuments", "uploadDocument", "submitDocument", "reviewDocument",
];

export function permissions(role: T.OrgRole = "OWNER", denied: Record<string, string> = {}): T.Permissions {
  return {
    global_role: "USER", role, tier: "GROWTH",
    actions: ALL_ACTIONS.map((action) =>
      denied[action] ? { action, allowed: false, reason: denied[action] } : { action, allowed: true }),
  };
}

const iso = (minutesFromNow: number) => new Date(Date.now() + minutesFromNow * 60_000).toISOString();

export function contact(i: number, extra: Partial<T.Contact> = {}): T.Contact {
  return {
    id: `c-${String(i).padStart(6, "0")}`, organization_id: ORG, name: `Contact ${i}`,
    email: `contact${i}@mail.example`, phone: null, company: i % 2 ? "Elm Holdings" : null,
    position: null, contact_type: "PROSPECT", status: i % 3 ? "ACTIVE" : "INACTIVE", notes: null,
    tags: [], assigned_to_id: null, next_follow_up_at: null, last_contact_at: null, created_by: ME,
    created_at: iso(-i), updated_at: iso(-i), assignee_name: null, ...extra,
  };
}

export const members: T.Member[] = [
  { user_id: ME, email: profile.email, name: "Ann Lee", role: "OWNER", joined_at: iso(-9000) },
  { user_id: BEN, email: "ben@harborpine.example", name: "Ben Ortiz", role: "MEMBER", joined_at: iso(-8000) },
];

export const dashboard: T.Dashboard = {
  total_contacts: 240, contacts_created_last_7_days: 18, deal_count: 24,
  deal_value_sum_cents: 1_479_000_000, deal_value_avg_cents: 61_625_000,
  contacts_by_status: [
    { status: "ACTIVE", count: 144 }, { status: "DO_NOT_CONTACT", count: 48 }, { status: "INACTIVE", count: 48 },
  ],
  upcoming_follow_ups: [
    { contact_id: "c-000009", name: "Olivia Carter", next_follow_up_at: iso(240), assignee_name: "Ben Ortiz" },
    { contact_id: "c-000018", name: "Priya Patel", next_follow_up_at: iso(1900), assignee_name: null },
  ],
};

export function activityItem(id: string, name: string, minutesAgo: number): T.ActivityItem {
  return {
    id, user_id: ME, user_name: "Ann Lee", action: "CREATE", entity_type: "contact",
    entity_id: id, new_values: { name }, created_at: iso(-minutesAgo),
  };
}

export function loop(id: string, address: string, done = 0): T.LoopWithTasks {
  const titles = ["Initial Consultation", "Property Inspection", "Offer Review", "Final Walkthrough"];
  const cats = ["PRE_LISTING", "LISTING", "UNDER_CONTRACT", "CLOSING"];
  return {
    id, property_address: address, transaction_type: "LISTING_AGREEMENT", listing_price_cents: 45_000_000,
    status: "DRAFT", progress: done * 25, expected_closing: "2026-12-20", created_at: iso(-60), updated_at: iso(-60),
    tasks: titles.map((title, i) => ({
      id: `${id}-t${i + 1}`, loop_id: id, title, description: null, category: cats[i] ?? "OTHER",
      status: i < done ? "DONE" : "PENDING", priority: "MEDIUM", position: i + 1, due_date: null,
      completed_at: null,
    })),
  };
}

export function syncView(pending = 0, online: boolean | null = true): T.SyncView {
  return {
    connection: { online, syncing: false, last_error: online === false ? "the server could not be reached" : null },
    status: { last_seq: 1200, pending, last_sync_at: iso(-3), rejections: 0, conflicts: 0 },
    server_url: profile.server_url, device_name: profile.device_name,
  };
}

export function doc(id: string, name: string, status: T.DocumentStatus, extra: Partial<T.DocumentRow> = {}): T.DocumentRow {
  return {
    id, organization_id: ORG, loop_id: "l-1", original_name: name, mime_type: "application/pdf",
    file_size: 182_000, document_type: "CONTRACT", status, version: 1, current_version_id: `${id}-v1`,
    is_encrypted: true, uploaded_by: ME, submitted_at: status === "SUBMITTED" ? iso(-30) : null,
    submitted_by: status === "SUBMITTED" ? BEN : null, reviewed_at: null, reviewed_by: null,
    review_note: null, created_at: iso(-90), updated_at: iso(-30), on_device: true, pinned: false,
    pending_upload: false, ...extra,
  };
}

/** A one-page PDF saying `text` (what pdf.js draws in the viewer tests). */
export function tinyPdf(text: string): number[] {
  const objs = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    "",
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  ];
  const stream = `BT /F1 24 Tf 72 700 Td (${text}) Tj ET`;
  objs[3] = `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`;
  let out = "%PDF-1.4\n";
  const offsets: number[] = [];
  objs.forEach((o, i) => { offsets.push(out.length); out += `${i + 1} 0 obj\n${o}\nendobj\n`; });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) out += `${String(off).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Array.from(new TextEncoder().encode(out));
}

/** The handlers a signed-in owner sees; tests override some. */
export function readyBackend(): Record<string, Handler> {
  const contacts = Array.from({ length: 40 }, (_, i) => contact(i + 1));
  const loops: T.LoopWithTasks[] = [loop("l-1", "12 Elm Street, Portland, OR", 1)];
  let pending = 0;
  const docs: T.DocumentRow[] = [
    doc("doc-1", "Purchase agreement.pdf", "SUBMITTED", { version: 2 }),
    doc("doc-2", "Seller disclosure.pdf", "DRAFT", { document_type: "DISCLOSURE" }),
  ];
  const uploads = new Map<string, { name: string; size: number }>();
  return {
    documents: (a) => docs.filter((d) => (!a.loopId || d.loop_id === a.loopId) && (!a.status || d.status === a.status)),
    document_versions: (a) => {
      const d = docs.find((x) => x.id === a.id);
      return Array.from({ length: d?.version ?? 0 }, (_, i) => ({
        id: `${a.id}-v${i + 1}`, document_id: a.id, version: i + 1, original_name: d?.original_name,
        mime_type: d?.mime_type, file_size: 150_000 + i * 32_000, ciphertext_size: 0, uploaded_by: ME, created_at: iso(-90 + i * 30),
      }));
    },
    review_queue: () => docs.filter((d) => d.status === "SUBMITTED").map((d) => ({
      id: d.id, loop_id: d.loop_id, property_address: "12 Elm Street, Portland, OR", original_name: d.original_name,
      document_type: d.document_type, version: d.version, submitted_at: d.submitted_at, submitted_by: BEN, submitted_by_name: "Ben Ortiz",
    })),
    upload_begin: (a) => { const id = `up-${uploads.size + 1}`; uploads.set(id, { name: a.name as string, size: a.size as number }); return id; },
    upload_chunk: (a) => a.bytes,
    upload_finish: (a) => {
      const u = uploads.get(a.upload as string);
      const d = doc(`doc-${docs.length + 1}`, u?.name ?? "file", "DRAFT", { loop_id: a.loopId as string, document_type: a.documentType as T.DocumentType, file_size: u?.size ?? 0, pending_upload: true });
      docs.push(d);
      pending++;
      return { document_id: d.id, version_id: `${d.id}-v1`, mime_type: d.mime_type, size: d.file_size };
    },
    upload_cancel: () => null,
    open_document: () => tinyPdf("Purchase agreement - 12 Elm Street"),
    submit_document: (a) => { const d = docs.find((x) => x.id === a.id); if (d) d.status = "SUBMITTED"; return null; },
    review_document: (a) => {
      if (a.decision === "RETURN" && !a.note) throw new CommandError({ code: "invalid", message: "Some fields need attention", fields: [{ field: "note", message: "Say what needs fixing when returning a document" }] });
      const d = docs.find((x) => x.id === a.id);
      if (d) { d.status = a.decision === "APPROVE" ? "APPROVED" : "RETURNED"; d.review_note = (a.note as string) ?? null; }
      return null;
    },
    watch_folder: () => ({ setting: null, running: false, error: null }),
    set_watch_folder: (a) => ({ setting: a.setting, running: !!a.setting, error: null }),
    app_status: () => ({ phase: "ready", profile }),
    permissions: () => permissions(),
    sync_status: () => syncView(pending),
    ui_ready: () => null,
    dashboard: () => dashboard,
    activity: () => [activityItem("a1", "Olivia Carter", 5), activityItem("a2", "Liam Nguyen", 50)],
    members: () => members,
    contacts: (a) => {
      const q = a.query as T.ContactQuery;
      const s = (q.search ?? "").toLowerCase();
      const found = contacts.filter((c) => !s || c.name.toLowerCase().includes(s));
      return { total: found.length, items: found.slice(q.offset, q.offset + q.limit) };
    },
    create_contact: (a) => {
      const input = a.input as T.ContactInput;
      const c = contact(contacts.length + 1, { name: input.name, email: input.email ?? null, created_at: iso(0) });
      contacts.unshift(c);
      pending++;
      return { id: c.id };
    },
    update_contact: () => null,
    bulk_assign: (a) => ({ count: (a.contactIds as string[]).length, assignee: "Ben Ortiz" }),
    deals: () => ({ total: 1, items: [{ id: "d1", title: "48 Harbor View Drive — purchase", value_cents: 61_000_000, stage: "PROPOSAL", status: "ACTIVE", probability: 60, contact_id: null, assigned_to_id: null, expected_close_date: "2026-12-01", created_at: iso(-100), updated_at: iso(-100) }] }),
    create_deal: () => ({ id: "d2" }),
    loops: () => ({
      total: loops.length,
      items: loops.map((l) => ({ ...l, task_count: l.tasks.length, tasks_done: l.tasks.filter((t) => t.status === "DONE").length })),
    }),
    loop_detail: (a) => {
      const l = loops.find((x) => x.id === a.id);
      if (!l) throw new CommandError({ code: "not_found", message: "That loop is not on this device" });
      return l;
    },
    create_loop: (a) => {
      const input = a.input as T.LoopInput;
      const l = loop(`l-${loops.length + 1}`, input.property_address);
      loops.unshift(l);
      return { id: l.id };
    },
    set_task_status: (a) => {
      for (const l of loops) for (const t of l.tasks) if (t.id === a.id) t.status = a.status as T.TaskStatus;
      return null;
    },
    sync_now: () => null,
    full_resync: () => null,
    request_sync_all: () => null,
    devices: () => [{ device_id: "dev1", name: "Ann's laptop", platform: "linux", user_id: ME, user_name: "Ann Lee", last_seen_at: iso(-1), last_pulled_seq: 1200, behind: 0, last_pull_at: iso(-1), last_push_at: iso(-2), pending_count: 0, full_resync_requested: false }],
    sync_issues: () => ({ conflicts: [], rejections: [] }),
    sign_out: () => ({ phase: "welcome", default_server: profile.server_url, last_email: profile.email }),
  };
}
