// One typed function per shell command (src-tauri/commands).
import { call } from "./ipc";
import type * as T from "./types";

export interface Credentials {
  server_url: string; email: string; password: string; name?: string; organization?: string;
}

export const api = {
  appStatus: () => call<T.AppStatus>("app_status"),
  signIn: (credentials: Credentials) => call<T.AppStatus>("sign_in", { credentials }),
  signUp: (credentials: Credentials) => call<T.AppStatus>("sign_up", { credentials }),
  unlock: (password: string) => call<T.AppStatus>("unlock", { password }),
  signOut: () => call<T.AppStatus>("sign_out"),
  uiReady: (screen: string) => call<void>("ui_ready", { screen }),
  createOrg: (name: string, password: string) => call<T.AppStatus>("create_org", { name, password }),
  switchOrg: (org: string, password?: string) =>
    call<T.AppStatus>("switch_org", { org, password: password ?? null }),
  refreshOrgs: () => call<T.AppStatus>("refresh_orgs"),
  permissions: () => call<T.Permissions>("permissions"),
  dashboard: () => call<T.Dashboard>("dashboard"),
  activity: (limit: number, before?: string) =>
    call<T.ActivityItem[]>("activity", { limit, before: before ?? null }),
  members: () => call<T.Member[]>("members"),
  contacts: (query: T.ContactQuery) => call<T.Page<T.Contact>>("contacts", { query }),
  contact: (id: string) => call<T.Contact>("contact", { id }),
  createContact: (input: T.ContactInput) => call<{ id: string }>("create_contact", { input }),
  updateContact: (id: string, changes: Partial<T.ContactInput>) =>
    call<void>("update_contact", { id, changes }),
  bulkAssign: (contactIds: string[], assignedToId: string) =>
    call<{ count: number; assignee: string }>("bulk_assign", {
      contactIds, assignedToId,
    }),
  deals: (query: { limit: number; offset: number; stage?: T.DealStage | null }) =>
    call<T.Page<T.Deal>>("deals", { query }),
  createDeal: (input: T.DealInput) => call<{ id: string }>("create_deal", { input }),
  loops: (query: { limit: number; offset: number }) =>
    call<T.Page<T.LoopSummary>>("loops", { query }),
  loopDetail: (id: string) => call<T.LoopWithTasks>("loop_detail", { id }),
  createLoop: (input: T.LoopInput) => call<{ id: string }>("create_loop", { input }),
  setTaskStatus: (id: string, status: T.TaskStatus) =>
    call<void>("set_task_status", { id, status }),
  syncStatus: () => call<T.SyncView>("sync_status"),
  syncNow: () => call<void>("sync_now"),
  fullResync: () => call<void>("full_resync"),
  requestSyncAll: (full: boolean) => call<void>("request_sync_all", { full }),
  devices: () => call<T.DeviceState[]>("devices"),
  syncIssues: () => call<T.SyncIssues>("sync_issues"),
};
