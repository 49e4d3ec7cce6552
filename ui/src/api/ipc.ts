import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { AppError, SyncEvent } from "./types";

/** Anything a command rejected with, as the typed error the shell sends (or one made up). */
export function toAppError(e: unknown): AppError {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    const x = e as AppError;
    return { code: String(x.code), message: String(x.message), fields: x.fields };
  }
  // Never show a stack trace: a thrown Error keeps only its first line.
  const text = e instanceof Error ? e.message : typeof e === "string" ? e : "";
  return { code: "unexpected", message: text.split("\n")[0] || "Something went wrong" };
}

export async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw toAppError(e);
  }
}

export function onSync(handler: (e: SyncEvent) => void): Promise<UnlistenFn> {
  return listen<SyncEvent>("sync", (e) => handler(e.payload));
}
