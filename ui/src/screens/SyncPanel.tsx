import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../api/commands";
import type { AppError } from "../api/types";
import { label, relative } from "../lib/format";
import { gate } from "../lib/permissions";
import { describe } from "../lib/sync";
import { useSession } from "../session";
import { Badge, Button, Empty, ErrorBanner, PageHeader, Spinner } from "../components/ui";
import { useToast } from "../components/toast";

/** Online state, pending changes, Sync now; conflicts and refusals; the admins' device list. */
export function SyncPanel() {
  const { sync, permissions } = useSession();
  const toast = useToast();
  const qc = useQueryClient();
  const status = useQuery({ queryKey: ["syncStatus"], queryFn: api.syncStatus });
  const issues = useQuery({ queryKey: ["syncIssues"], queryFn: api.syncIssues });
  const canDevices = gate(permissions, "viewDevices");
  const canRequest = gate(permissions, "requestSync");
  const s = status.data;
  const pending = s?.status.pending ?? sync.pending;
  const online = sync.online ?? s?.connection.online ?? null;
  const now = () => api.syncNow().then(() => { toast("Syncing now…"); void qc.invalidateQueries({ queryKey: ["syncStatus"] }); }, (e: AppError) => toast(e.message, "error"));

  return (
    <div className="page">
      <PageHeader title="Sync" subtitle="This device keeps a full encrypted copy of your organization and exchanges changes with the server." actions={
        <Button variant="primary" onClick={now} busy={sync.syncing} data-testid="sync-now">Sync now</Button>
      } />
      <ErrorBanner error={status.error as AppError | null} />
      {status.isPending ? <Spinner /> : s ? (
        <section className="metrics" aria-label="Sync state">
          <div className="metric">
            <span className="metric-label">Connection</span>
            <span className="metric-value" data-testid="connection">{online === false ? "Offline" : online ? "Online" : "Connecting"}</span>
            <span className="muted small">{describe({ ...sync, pending })}</span>
          </div>
          <div className="metric"><span className="metric-label">Waiting to send</span><span className="metric-value" data-testid="pending">{pending}</span><span className="muted small">local changes</span></div>
          <div className="metric"><span className="metric-label">Last sync</span><span className="metric-value">{relative(s.status.last_sync_at)}</span><span className="muted small">up to change #{s.status.last_seq}</span></div>
          <div className="metric"><span className="metric-label">This device</span><span className="metric-value metric-text">{s.device_name}</span><span className="muted small">{s.server_url}</span></div>
        </section>
      ) : null}
      {sync.online === false && sync.lastError ? <p className="muted small">Last attempt: {sync.lastError}. Retrying automatically.</p> : null}

      <section className="card" aria-label="Sync issues">
        <h2 className="card-title">Conflicts and refused changes</h2>
        {issues.isPending ? <Spinner /> : issues.data && (issues.data.conflicts.length + issues.data.rejections.length > 0) ? (
          <ul className="list">
            {issues.data.rejections.map((r) => (
              <li key={`r${r.client_seq}`} className="list-row">
                <Badge tone="bad">Refused</Badge>
                <span className="grow"><strong>{label(r.mutation.replace(/([A-Z])/g, "_$1"))}</strong> — {r.message}<span className="muted small"> (undone on this device)</span></span>
                <span className="muted small">{relative(r.at)}</span>
              </li>
            ))}
            {issues.data.conflicts.map((c) => (
              <li key={c.id} className="list-row">
                <Badge tone="warn">Conflict</Badge>
                <span className="grow">Your {c.field.replace(/_/g, " ")} of <strong>{c.entity_label ?? c.entity_type}</strong> (“{c.lost_value ?? "empty"}”) was replaced by {c.winner_name ?? "a teammate"}'s “{c.winning_value ?? "empty"}”</span>
                <span className="muted small">{relative(c.at)}</span>
              </li>
            ))}
          </ul>
        ) : <Empty title="No conflicts">Every change from this device reached the server as made.</Empty>}
      </section>

      {canDevices.allowed ? <AdminDevices canRequest={canRequest.allowed} /> : (
        <section className="card"><h2 className="card-title">Devices</h2><p className="muted">{canDevices.reason}</p></section>
      )}
    </div>
  );
}

function AdminDevices({ canRequest }: { canRequest: boolean }) {
  const toast = useToast();
  const devices = useQuery({ queryKey: ["devices"], queryFn: api.devices });
  const ask = (full: boolean) => api.requestSyncAll(full).then(
    () => toast(full ? "Asked every device to start over with a full re-sync" : "Asked every online device to sync now"),
    (e: AppError) => toast(e.message, "error"),
  );
  const resync = () => api.fullResync().then(() => toast("Re-downloading this organization; unsent changes are kept"));
  return (
    <section className="card" aria-label="Devices">
      <div className="row-between">
        <h2 className="card-title">Devices</h2>
        <div className="page-actions">
          <Button onClick={resync}>Full re-sync of this device</Button>
          <Button onClick={() => ask(false)} disabled={!canRequest}>Ask all devices to sync</Button>
        </div>
      </div>
      <ErrorBanner error={devices.error as AppError | null} onRetry={() => void devices.refetch()} />
      {devices.isPending ? <Spinner /> : devices.data && devices.data.length > 0 ? (
        <table className="simple-table" aria-label="Device list">
          <thead><tr><th>Device</th><th>User</th><th>Last sync</th><th className="num">Behind</th><th className="num">Pending</th><th /></tr></thead>
          <tbody>
            {devices.data.map((d) => (
              <tr key={d.device_id}>
                <td className="cell-strong">{d.name} <span className="muted small">{d.platform}</span></td>
                <td>{d.user_name}</td>
                <td>{relative(d.last_pull_at)}</td>
                <td className="num">{d.behind}</td>
                <td className="num">{d.pending_count}</td>
                <td>{d.full_resync_requested ? <Badge tone="warn">Re-sync asked</Badge> : null}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : devices.data ? <Empty title="No devices yet" /> : null}
    </section>
  );
}
