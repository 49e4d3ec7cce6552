import { useState } from "react";
import { api } from "../api/commands";
import type { AppError, AppStatus, Profile } from "../api/types";
import { fieldErrors } from "../lib/errors";
import { label } from "../lib/format";
import { Button, ErrorBanner, Field, Input } from "../components/ui";

/** Signed in, no organization open: create one, or join one an admin added you to. */
export function NoOrganization({ profile, onDone }: { profile: Profile; onDone: (s: AppStatus) => void }) {
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<AppError | null>(null);
  const [busy, setBusy] = useState(false);
  const [checked, setChecked] = useState(false);
  const f = fieldErrors(error);

  const create = () => {
    setBusy(true);
    const run = api.createOrg(name, password);
    setPassword("");
    run.then(onDone, (e: AppError) => { setError(e); setBusy(false); });
  };
  const join = (org: string) => {
    const run = api.switchOrg(org, password || undefined);
    setPassword("");
    run.then(onDone, setError);
  };
  const check = () => api.refreshOrgs().then((s) => { setChecked(true); onDone(s); }, setError);

  return (
    <div className="auth-screen">
      <div className="auth-card auth-wide">
        <h2>Set up your workspace</h2>
        <p className="muted">Signed in as {profile.email}. Create an organization for your team, or join one.</p>
        <ErrorBanner error={error?.fields ? null : error} />
        <div className="split">
          <form noValidate className="panel" onSubmit={(e) => { e.preventDefault(); create(); }} aria-label="Create organization">
            <h3>Create an organization</h3>
            <Field label="Name" error={f.name}><Input name="org-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="Acme Realty" /></Field>
            <Field label="Your password" hint="Encrypts its copy on this device" error={f.password}>
              <Input name="password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} />
            </Field>
            <Button variant="primary" type="submit" busy={busy}>Create organization</Button>
          </form>
          <div className="panel">
            <h3>Join an organization</h3>
            {profile.organizations.length === 0 ? (
              <>
                <p className="muted">Ask an owner or admin to add <strong>{profile.email}</strong> to their organization, then check again.</p>
                <Button onClick={check}>Check again</Button>
                {checked ? <p className="muted small">No invitation yet.</p> : null}
              </>
            ) : (
              <ul className="plain-list">
                {profile.organizations.map((o) => (
                  <li key={o.organization_id} className="row-between">
                    <span>{o.name} <span className="muted small">{label(o.role)}</span></span>
                    <Button onClick={() => join(o.organization_id)}>Open</Button>
                  </li>
                ))}
              </ul>
            )}
          </div>
        </div>
      </div>
    </div>
  );
}
