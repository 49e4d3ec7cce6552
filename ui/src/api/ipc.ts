import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { AppError, SyncEvent, WatchEvent } from "./types";

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

/** A command whose input is raw bytes (`headers` name what they belong to). */
export async function callRaw<T>(cmd: string, bytes: Uint8Array, headers: Record<string, string>): Promise<T> {
  try {
    return await invoke<T>(cmd, bytes, { headers });
  } catch (e) {
    throw toAppError(e);
  }
}

/** A command that answers raw bytes (an ArrayBuffer from the shell; a list of numbers from mocks). */
export async function callBytes(cmd: string, args?: Record<string, unknown>): Promise<Uint8Array> {
  const answer = await call<ArrayBuffer | number[]>(cmd, args);
  return answer instanceof ArrayBuffer ? new Uint8Array(answer) : Uint8Array.from(answer);
}

export function onSync(handler: (e: SyncEvent) => void): Promise<UnlistenFn> {
  return listen<SyncEvent>("sync", (e) => handler(e.payload));
}

export function onWatch(handler: (e: WatchEvent) => void): Promise<UnlistenFn> {
  return listen<WatchEvent>("watch", (e) => handler(e.payload));
}
