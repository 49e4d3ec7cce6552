// One typed function per shell command (src-tauri/commands).
import { call, callBytes, callRaw } from "./ipc";
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
  documents: (loopId: string | null, status?: T.DocumentStatus | null) =>
    call<T.DocumentRow[]>("documents", { loopId, status: status ?? null }),
  documentVersions: (id: string) => call<T.DocumentVersion[]>("document_versions", { id }),
  reviewQueue: () => call<T.ReviewItem[]>("review_queue"),
  uploadBegin: (name: string, size: number) => call<string>("upload_begin", { name, size }),
  uploadChunk: (upload: string, bytes: Uint8Array) =>
    callRaw<number>("upload_chunk", bytes, { "upload-id": upload }),
  uploadFinish: (upload: string, loopId: string, documentType: T.DocumentType, versionOf: string | null) =>
    call<T.Uploaded>("upload_finish", { upload, loopId, documentType, versionOf }),
  uploadCancel: (upload: string) => call<void>("upload_cancel", { upload }),
  openDocument: (id: string, version?: number | null) =>
    callBytes("open_document", { id, version: version ?? null }),
  submitDocument: (id: string) => call<void>("submit_document", { id }),
  reviewDocument: (id: string, decision: "APPROVE" | "RETURN", note: string | null) =>
    call<void>("review_document", { id, decision, note }),
  pinDocument: (id: string, on: boolean) => call<void>("pin_document", { id, on }),
  watchFolder: () => call<T.WatchView>("watch_folder"),
  setWatchFolder: (setting: T.WatchSetting | null) => call<T.WatchView>("set_watch_folder", { setting }),
  syncStatus: () => call<T.SyncView>("sync_status"),
  syncNow: () => call<void>("sync_now"),
  fullResync: () => call<void>("full_resync"),
  requestSyncAll: (full: boolean) => call<void>("request_sync_all", { full }),
  devices: () => call<T.DeviceState[]>("devices"),
  syncIssues: () => call<T.SyncIssues>("sync_issues"),
};
