import type { AppError } from "../api/types";

/** Field errors of a failed form submission, by field name (first message per field). */
export function fieldErrors(e: AppError | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of e?.fields ?? []) {
    if (!(f.field in out)) out[f.field] = sentence(f.message);
  }
  return out;
}

/** What to show above a form or in a banner: field errors are shown on their fields. */
export function summary(e: AppError | null | undefined): string | null {
  if (!e) return null;
  if (e.fields?.length) return "Please fix the highlighted fields.";
  return sentence(e.message);
}

function sentence(s: string): string {
  const t = s.trim();
  return t ? t.charAt(0).toUpperCase() + t.slice(1) : t;
}

/** Errors after which the user must sign in or unlock again. */
export function needsSignIn(e: AppError): boolean {
  return e.code === "signed_out" || e.code === "password_needed";
}
