import type { DocumentStatus, DocumentType } from "../api/types";

export const DOCUMENT_TYPES: DocumentType[] = ["CONTRACT", "DISCLOSURE", "INSPECTION", "APPRAISAL", "TITLE", "OTHER"];

/** The badge colour of a review status. */
export function statusTone(s: DocumentStatus): string {
  switch (s) {
    case "APPROVED": return "ok";
    case "SUBMITTED": return "info";
    case "RETURNED": return "bad";
    case "DRAFT": return "neutral";
    default: return "neutral";
  }
}
