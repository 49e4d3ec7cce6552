import { useCallback, useEffect, useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "./api/commands";
import { onSync } from "./api/ipc";
import type { AppError, AppStatus } from "./api/types";
import { Spinner, ErrorBanner } from "./components/ui";
import { Shell } from "./Shell";
import { Welcome } from "./screens/Welcome";
import { Unlock } from "./screens/Unlock";
import { NoOrganization } from "./screens/NoOrganization";
import { SessionContext } from "./session";
import { changesData, fromView, initialSync, reduce, type SyncState } from "./lib/sync";

/** Picks the screen from where the app stands: first run, locked, no organization, or ready. */
export function App() {
  const [status, setStatus] = useState<AppStatus | null>(null);
  const [error, setError] = useState<AppError | null>(null);
  const load = useCallback(() => api.appStatus().then(setStatus, setError), []);
  useEffect(() => {
    void load();
  }, [load]);

  if (error) {
    return (
      <div className="center-screen">
        <ErrorBanner error={error} onRetry={() => { setError(null); void load(); }} />
      </div>
    );
  }
  if (!status) return <div className="center-screen"><Spinner label="Opening Strive…" /></div>;
  switch (status.phase) {
    case "welcome":
      return <Welcome status={status} onDone={setStatus} />;
    case "locked":
      return <Unlock status={status} onDone={setStatus} />;
    case "ready":
      if (!status.profile.current_org) return <NoOrganization profile={status.profile} onDone={setStatus} />;
      return <Ready key={status.profile.current_org} status={status} setStatus={setStatus} />;
  }
}

function Ready({ status, setStatus }: { status: Extract<AppStatus, { phase: "ready" }>; setStatus: (s: AppStatus) => void }) {
  const qc = useQueryClient();
  const [sync, setSync] = useState<SyncState>(initialSync);
  const permissions = useQuery({ queryKey: ["permissions"], queryFn: api.permissions });

  useEffect(() => {
    // A new organization: nothing cached from the previous one may show.
    qc.removeQueries();
    let stop: (() => void) | undefined;
    let alive = true;
    api.syncStatus().then((v) => alive && setSync((s) => ({ ...fromView(v), progress: s.progress })), () => {});
    onSync((e) => {
      setSync((s) => reduce(s, e));
      if (changesData(e)) void qc.invalidateQueries();
      else if (e.kind === "synced" || e.kind === "offline") void qc.invalidateQueries({ queryKey: ["syncStatus"] });
    }).then((u) => {
      if (alive) stop = u;
      else u();
    });
    return () => { alive = false; stop?.(); };
  }, [qc]);

  return (
    <SessionContext.Provider value={{ profile: status.profile, permissions: permissions.data, sync, setStatus }}>
      <Shell />
    </SessionContext.Provider>
  );
}
