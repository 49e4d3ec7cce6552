import { useState } from "react";
import { api } from "../api/commands";
import type { AppError } from "../api/types";
import { label } from "../lib/format";
import { fieldErrors } from "../lib/errors";
import { useSession } from "../session";
import { Badge, Button, ErrorBanner, Field, Input, Modal } from "./ui";

/** The current organization with the user's role and tier; switch to another or create one. */
export function OrgSwitcher() {
  const { profile, permissions, setStatus } = useSession();
  const [open, setOpen] = useState(false);
  const [creating, setCreating] = useState(false);
  const [needsPassword, setNeedsPassword] = useState<string | null>(null);
  const current = profile.organizations.find((o) => o.organization_id === profile.current_org);
  const role = permissions?.role ?? current?.role;
  const tier = permissions?.tier ?? current?.tier;

  const pick = (org: string) => {
    setOpen(false);
    if (org === profile.current_org) return;
    api.switchOrg(org).then(setStatus, (e: AppError) => {
      if (e.code === "password_needed") setNeedsPassword(org);
    });
  };

  return (
    <div className="org">
      <button type="button" className="org-button" onClick={() => setOpen((o) => !o)} aria-expanded={open} aria-label="Switch organization">
        <span className="org-name">{current?.name ?? "No organization"}</span>
        <span className="org-meta">
          {role ? <Badge tone="role">{label(role)}</Badge> : null}
          {tier ? <Badge tone="tier">{label(tier)}</Badge> : null}
        </span>
      </button>
      {open ? (
        <div className="org-menu" role="menu">
          {profile.organizations.map((o) => (
            <button type="button" role="menuitem" key={o.organization_id} className={`org-item${o.organization_id === profile.current_org ? " current" : ""}`} onClick={() => pick(o.organization_id)}>
              <span>{o.name}</span>
              <span className="muted small">{label(o.role)} · {label(o.tier)}</span>
            </button>
          ))}
          <button type="button" role="menuitem" className="org-item org-new" onClick={() => { setOpen(false); setCreating(true); }}>
            + New organization
          </button>
        </div>
      ) : null}
      {creating ? <CreateOrgDialog onClose={() => setCreating(false)} /> : null}
      {needsPassword ? (
        <PasswordDialog
          title="Open this organization here"
          text="This is the first time this organization opens on this device. Your password encrypts its local copy."
          onClose={() => setNeedsPassword(null)}
          run={(pw) => api.switchOrg(needsPassword, pw)}
        />
      ) : null}
    </div>
  );
}

export function CreateOrgDialog({ onClose }: { onClose: () => void }) {
  const { setStatus } = useSession();
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<AppError | null>(null);
  const [busy, setBusy] = useState(false);
  const f = fieldErrors(error);
  const submit = () => {
    setBusy(true);
    api.createOrg(name, password).then(
      (s) => { setPassword(""); setStatus(s); onClose(); },
      (e: AppError) => { setPassword(""); setError(e); setBusy(false); },
    );
  };
  return (
    <Modal title="New organization" onClose={onClose} footer={
      <>
        <Button onClick={onClose}>Cancel</Button>
        <Button variant="primary" busy={busy} onClick={submit}>Create organization</Button>
      </>
    }>
      <form noValidate onSubmit={(e) => { e.preventDefault(); submit(); }}>
        <ErrorBanner error={error?.fields ? null : error} />
        <Field label="Name" error={f.name}><Input name="org-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="Acme Realty" /></Field>
        <Field label="Your password" hint="Encrypts this organization's copy on this device" error={f.password}>
          <Input type="password" name="org-password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="current-password" />
        </Field>
      </form>
    </Modal>
  );
}

function PasswordDialog({ title, text, onClose, run }: { title: string; text: string; onClose: () => void; run: (pw: string) => Promise<import("../api/types").AppStatus> }) {
  const { setStatus } = useSession();
  const [password, setPassword] = useState("");
  const [error, setError] = useState<AppError | null>(null);
  const submit = () =>
    run(password).then((s) => { setPassword(""); setStatus(s); onClose(); }, (e: AppError) => { setPassword(""); setError(e); });
  return (
    <Modal title={title} onClose={onClose} footer={<Button variant="primary" onClick={submit}>Open</Button>}>
      <p className="muted">{text}</p>
      <ErrorBanner error={error} />
      <Field label="Password"><Input type="password" value={password} onChange={(e) => setPassword(e.target.value)} /></Field>
    </Modal>
  );
}
