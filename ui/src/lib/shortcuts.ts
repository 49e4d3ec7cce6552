// Keyboard shortcuts: "/" or Ctrl/Cmd+K focuses search, "n" opens a new contact, "g" then a
// letter goes to a screen. Typing in a field never triggers them (except Ctrl/Cmd+K).

export type Shortcut = "search" | "new" | { go: string } | null;

const GO: Record<string, string> = { d: "dashboard", c: "contacts", l: "loops", e: "deals", s: "sync" };

export interface Key { key: string; ctrl?: boolean; meta?: boolean; alt?: boolean; inField: boolean }

export function shortcutFor(k: Key, pendingG: boolean): Shortcut {
  if ((k.ctrl || k.meta) && k.key.toLowerCase() === "k") return "search";
  if (k.inField || k.ctrl || k.meta || k.alt) return null;
  if (pendingG) {
    const to = GO[k.key.toLowerCase()];
    return to ? { go: to } : null;
  }
  if (k.key === "/") return "search";
  if (k.key === "n") return "new";
  return null;
}
