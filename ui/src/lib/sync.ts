import type { SyncEvent, SyncView } from "../api/types";

/** The sync indicator's state, moved along by the sync task's events. */
export interface SyncState {
  online: boolean | null;
  syncing: boolean;
  progress: number | null;
  pending: number;
  lastSyncAt: string | null;
  lastError: string | null;
  retryInMs: number | null;
  signedOut: string | null;
}

export const initialSync: SyncState = {
  online: null, syncing: false, progress: null, pending: 0, lastSyncAt: null, lastError: null,
  retryInMs: null, signedOut: null,
};

export function fromView(v: SyncView): SyncState {
  return {
    ...initialSync,
    online: v.connection.online,
    syncing: v.connection.syncing,
    pending: v.status.pending,
    lastSyncAt: v.status.last_sync_at,
    lastError: v.connection.last_error,
  };
}

export function reduce(s: SyncState, e: SyncEvent): SyncState {
  switch (e.kind) {
    case "syncing":
      return { ...s, syncing: true, progress: null };
    case "progress":
      return { ...s, progress: e.applied };
    case "synced":
      return {
        ...s, syncing: false, progress: null, online: true, lastError: null, retryInMs: null,
        pending: e.status.pending, lastSyncAt: e.status.last_sync_at,
      };
    case "online":
      return { ...s, online: true, lastError: null, retryInMs: null };
    case "upload":
      // A document's ciphertext going up: the screens showing documents follow it themselves.
      return s;
    case "offline":
      return { ...s, online: false, syncing: false, progress: null, lastError: e.error, retryInMs: e.retry_in_ms };
    case "error":
      return { ...s, syncing: false, progress: null, lastError: e.message };
    case "signed_out":
      return { ...s, syncing: false, signedOut: e.message };
    case "activity":
      return s;
  }
}

/** Whether an event means the replica's data changed, so screens should read it again. */
export function changesData(e: SyncEvent): boolean {
  return (e.kind === "synced" && (e.pulled > 0 || e.applied > 0 || e.rejected > 0)) || e.kind === "activity";
}

/** The one-line status under the indicator. */
export function describe(s: SyncState): string {
  if (s.signedOut) return "Signed out — sign in again";
  if (s.online === false) {
    const base = s.pending > 0 ? `Offline · ${s.pending} waiting` : "Offline · changes are kept";
    return base;
  }
  if (s.syncing) return s.progress ? `Syncing… ${s.progress.toLocaleString("en-US")} received` : "Syncing…";
  if (s.pending > 0) return `${s.pending} change${s.pending === 1 ? "" : "s"} waiting`;
  if (s.online === null) return "Connecting…";
  return "Up to date";
}
