import { useState } from "react";
import { api } from "../api/commands";
import type { AppError, AppStatus } from "../api/types";
import { Button, ErrorBanner, Field, Input } from "../components/ui";

/** A returning user whose keychain cannot open the local data (offline, headless): the password does. */
export function Unlock({ status, onDone }: { status: Extract<AppStatus, { phase: "locked" }>; onDone: (s: AppStatus) => void }) {
  const [password, setPassword] = useState("");
  const [error, setError] = useState<AppError | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = () => {
    setBusy(true);
    setError(null);
    const run = api.unlock(password);
    setPassword("");
    run.then(onDone, (e: AppError) => { setError(e); setBusy(false); });
  };
  return (
    <div className="auth-screen">
      <div className="auth-card">
        <div className="brand brand-lg"><span className="brand-mark">S</span> Strive</div>
        <h2>Welcome back</h2>
        <p className="muted">Type your password to unlock {status.email}'s data on this computer. It works offline.</p>
        <form noValidate onSubmit={(e) => { e.preventDefault(); submit(); }} aria-label="Unlock">
          <ErrorBanner error={error} />
          <Field label="Password">
            <Input name="password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="current-password" />
          </Field>
          <Button variant="primary" type="submit" busy={busy} className="btn btn-primary btn-block">Unlock</Button>
        </form>
        <p className="muted small">Server: {status.server_url}</p>
      </div>
    </div>
  );
}
