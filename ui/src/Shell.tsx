import { useEffect, useRef, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api } from "./api/commands";
import { go, useRoute } from "./lib/router";
import { shortcutFor } from "./lib/shortcuts";
import { describe } from "./lib/sync";
import { useSession } from "./session";
import { OrgSwitcher } from "./components/OrgSwitcher";
import { Dashboard } from "./screens/Dashboard";
import { Contacts } from "./screens/Contacts";
import { Deals } from "./screens/Deals";
import { Loops } from "./screens/Loops";
import { LoopDetail } from "./screens/LoopDetail";
import { Documents } from "./screens/Documents";
import { SyncPanel } from "./screens/SyncPanel";
import { Button } from "./components/ui";

const NAV: [string, string, string][] = [
  ["dashboard", "Dashboard", "▦"],
  ["contacts", "Contacts", "☺"],
  ["deals", "Deals", "$"],
  ["loops", "Transactions", "⟳"],
  ["documents", "Documents", "▤"],
  ["sync", "Sync", "⇅"],
];

/** The signed-in layout: sidebar (organization, navigation, sync state) and the screen. */
export function Shell() {
  const route = useRoute();
  const { sync, profile, setStatus } = useSession();
  const status = useQuery({ queryKey: ["syncStatus"], queryFn: api.syncStatus });
  const pending = status.data?.status.pending ?? sync.pending;
  const [newContact, setNewContact] = useState(0);
  const pendingG = useRef(false);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      const inField = !!t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
      const s = shortcutFor({ key: e.key, ctrl: e.ctrlKey, meta: e.metaKey, alt: e.altKey, inField }, pendingG.current);
      pendingG.current = !inField && e.key === "g" && !pendingG.current;
      if (!s) return;
      e.preventDefault();
      if (s === "search") {
        if (route.screen !== "contacts") go("contacts");
        setTimeout(() => document.querySelector<HTMLInputElement>("#contact-search")?.focus(), 0);
      } else if (s === "new") {
        if (route.screen !== "contacts") go("contacts");
        setNewContact((n) => n + 1);
      } else {
        go(s.go);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [route.screen]);

  const online = sync.online;
  const dot = sync.signedOut ? "bad" : online === false ? "off" : sync.syncing ? "busy" : online ? "on" : "wait";

  return (
    <div className="layout">
      <aside className="sidebar">
        <div className="brand"><span className="brand-mark">S</span> Strive</div>
        <OrgSwitcher />
        <nav className="nav" aria-label="Main">
          {NAV.map(([screen, text, icon]) => (
            <a
              key={screen}
              href={`#/${screen}`}
              className={`nav-item${route.screen === screen ? " active" : ""}`}
              aria-current={route.screen === screen ? "page" : undefined}
            >
              <span className="nav-icon" aria-hidden>{icon}</span>
              {text}
              {screen === "sync" && pending > 0 ? <span className="nav-count">{pending}</span> : null}
            </a>
          ))}
        </nav>
        <div className="sidebar-foot">
          <button type="button" className="sync-chip" onClick={() => go("sync")} data-testid="sync-indicator">
            <span className={`dot dot-${dot}`} aria-hidden />
            <span>{describe({ ...sync, pending })}</span>
          </button>
          <div className="me">
            <span className="muted small" title={profile.server_url}>{profile.email}</span>
            <Button variant="ghost" onClick={() => api.signOut().then(setStatus)}>Sign out</Button>
          </div>
        </div>
      </aside>
      <main className="content">
        {sync.signedOut ? (
          <div className="banner banner-error" role="alert">
            {sync.signedOut}.{" "}
            <button type="button" className="link" onClick={() => api.signOut().then(setStatus)}>Sign in again</button>
          </div>
        ) : null}
        <Screen screen={route.screen} id={route.id} newContact={newContact} />
      </main>
    </div>
  );
}

function Screen({ screen, id, newContact }: { screen: string; id: string | null; newContact: number }) {
  switch (screen) {
    case "contacts":
      return <Contacts newContact={newContact} />;
    case "deals":
      return <Deals />;
    case "loops":
      return id ? <LoopDetail id={id} /> : <Loops />;
    case "documents":
      return <Documents />;
    case "sync":
      return <SyncPanel />;
    default:
      return <Dashboard />;
  }
}
