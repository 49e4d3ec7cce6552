import { useState } from "react";
import { api } from "../api/commands";
import type { AppError, AppStatus } from "../api/types";
import { fieldErrors } from "../lib/errors";
import { Button, ErrorBanner, Field, Input } from "../components/ui";

type Mode = "signin" | "signup";

/** First run: the server, then sign in or create an account (and, optionally, an organization). */
export function Welcome({ status, onDone }: { status: Extract<AppStatus, { phase: "welcome" }>; onDone: (s: AppStatus) => void }) {
  const [mode, setMode] = useState<Mode>(status.last_email ? "signin" : "signup");
  const [server, setServer] = useState(status.default_server);
  const [email, setEmail] = useState(status.last_email ?? "");
  const [name, setName] = useState("");
  const [organization, setOrganization] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<AppError | null>(null);
  const [busy, setBusy] = useState(false);
  const f = fieldErrors(error);

  const submit = () => {
    setBusy(true);
    setError(null);
    const credentials = { server_url: server.trim(), email: email.trim(), password, name, organization };
    // The password goes to the shell once and is dropped from this screen's state at once.
    const run = mode === "signup" ? api.signUp(credentials) : api.signIn(credentials);
    setPassword("");
    run.then(onDone, (e: AppError) => { setError(e); setBusy(false); });
  };

  return (
    <div className="auth-screen">
      <div className="auth-card">
        <div className="brand brand-lg"><span className="brand-mark">S</span> Strive</div>
        <p className="muted">Your team's contacts, deals and transactions — on this computer, in sync.</p>
        <div className="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={mode === "signup"} className={mode === "signup" ? "tab active" : "tab"} onClick={() => { setMode("signup"); setError(null); }}>Create account</button>
          <button type="button" role="tab" aria-selected={mode === "signin"} className={mode === "signin" ? "tab active" : "tab"} onClick={() => { setMode("signin"); setError(null); }}>Sign in</button>
        </div>
        <form noValidate onSubmit={(e) => { e.preventDefault(); submit(); }} aria-label={mode === "signup" ? "Create account" : "Sign in"}>
          <ErrorBanner error={error?.fields ? null : error} />
          <Field label="Server" error={f.server_url} hint="Your organization's Strive server">
            <Input name="server" value={server} onChange={(e) => setServer(e.target.value)} spellCheck={false} />
          </Field>
          {mode === "signup" ? (
            <Field label="Your name" error={f.name}>
              <Input name="name" value={name} onChange={(e) => setName(e.target.value)} autoComplete="name" placeholder="Ann Lee" />
            </Field>
          ) : null}
          <Field label="Email" error={f.email}>
            <Input name="email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="email" placeholder="you@brokerage.com" />
          </Field>
          <Field label="Password" error={f.password} hint={mode === "signup" ? "At least 10 characters" : undefined}>
            <Input name="password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete={mode === "signup" ? "new-password" : "current-password"} />
          </Field>
          {mode === "signup" ? (
            <Field label="Organization (optional)" hint="Create your team's workspace now, or join one later">
              <Input name="organization" value={organization} onChange={(e) => setOrganization(e.target.value)} placeholder="Acme Realty" />
            </Field>
          ) : null}
          <Button variant="primary" type="submit" busy={busy} className="btn btn-primary btn-block">
            {mode === "signup" ? "Create account" : "Sign in"}
          </Button>
        </form>
      </div>
    </div>
  );
}
