// The real UI over a mocked shell: every command goes to the test (Node) through
// `window.__ipc`, which answers `{ ok }` or `{ err }` (the shell's typed error); tests push
// sync events with `window.__emitSync`. Only tests load this page; `vite build` never does.
import { mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";

type Answer = { ok: unknown } | { err: unknown };
declare global {
  interface Window {
    __ipc: (cmd: string, args: unknown) => Promise<Answer>;
    __emitSync: (payload: unknown) => Promise<void>;
  }
}

mockIPC(
  async (cmd, args) => {
    // Raw bytes (an upload's chunks) cross to the test as their size.
    const sent = args instanceof Uint8Array || args instanceof ArrayBuffer ? { bytes: args.byteLength } : args ?? {};
    const answer = await window.__ipc(cmd, sent);
    if ("err" in answer) throw answer.err;
    return answer.ok;
  },
  { shouldMockEvents: true },
);
window.__emitSync = (payload) => emit("sync", payload);

await import("../src/main");
