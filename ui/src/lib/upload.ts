// Sending a file to the shell in chunks, so the screen can show how far it got. The shell stages
// the bytes privately, then strive-replica checks, encrypts and queues the file.
import { api } from "../api/commands";
import type { AppError, DocumentType, Uploaded } from "../api/types";

/** 1 MiB: small enough for smooth progress, large enough that IPC overhead does not matter. */
export const CHUNK = 1024 * 1024;

/** The [start, end) byte ranges a file of `size` bytes is sent in (one empty range for 0). */
export function chunkRanges(size: number, chunk = CHUNK): [number, number][] {
  if (size <= 0) return [[0, 0]];
  const out: [number, number][] = [];
  for (let start = 0; start < size; start += chunk) out.push([start, Math.min(size, start + chunk)]);
  return out;
}

/** Percent done, 0–100, never NaN. */
export function percent(sent: number, total: number): number {
  if (total <= 0) return 100;
  return Math.max(0, Math.min(100, Math.round((sent / total) * 100)));
}

/** Document type guessed from a file name (the person can change it before it goes up). */
export function guessType(name: string): DocumentType {
  const n = name.toLowerCase();
  if (/contract|agreement|purchase|offer|addendum/.test(n)) return "CONTRACT";
  if (/disclosure/.test(n)) return "DISCLOSURE";
  if (/inspection|report/.test(n)) return "INSPECTION";
  if (/apprais/.test(n)) return "APPRAISAL";
  if (/title|deed|escrow/.test(n)) return "TITLE";
  return "OTHER";
}

export interface UploadTarget { loopId: string; documentType: DocumentType; versionOf: string | null }

/** Sends `file`; `onProgress` gets the bytes the shell holds so far. Abandoned on any error. */
export async function sendFile(
  file: Blob & { name: string }, target: UploadTarget, onProgress: (sent: number) => void,
): Promise<Uploaded> {
  const upload = await api.uploadBegin(file.name, file.size);
  try {
    for (const [start, end] of chunkRanges(file.size)) {
      if (end > start) {
        const bytes = new Uint8Array(await file.slice(start, end).arrayBuffer());
        await api.uploadChunk(upload, bytes);
      }
      onProgress(end);
    }
    return await api.uploadFinish(upload, target.loopId, target.documentType, target.versionOf);
  } catch (e) {
    void api.uploadCancel(upload).catch(() => {});
    throw e as AppError;
  }
}
