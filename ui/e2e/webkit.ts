// The mocked shell answering from e2e/backend.ts inside the page itself, for trying the UI in
// a WebKit browser (MiniBrowser) by hand: `npx vite` then open /e2e/webkit.html#/contacts.
import { readyBackend, CommandError } from "./backend";

const handlers = readyBackend();
if (location.search.includes("empty")) handlers.contacts = () => ({ total: 0, items: [] });
window.__ipc = async (cmd, args) => {
  const h = handlers[cmd];
  if (!h) return { err: { code: "internal", message: `no mock for ${cmd}` } };
  try {
    return { ok: (await h(args as Record<string, unknown>)) ?? null };
  } catch (e) {
    if (e instanceof CommandError) return { err: e.err };
    throw e;
  }
};
await import("./harness");
