import { useRef, useState, type DragEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../api/commands";
import type { AppError, DocumentRow, DocumentType } from "../api/types";
import { bytes, label, relative } from "../lib/format";
import { gate } from "../lib/permissions";
import { guessType, percent, sendFile } from "../lib/upload";
import { statusTone, DOCUMENT_TYPES } from "../lib/documents";
import { useSession } from "../session";
import { Badge, Button, Empty, ErrorBanner, Progress, Select, Spinner } from "../components/ui";
import { useToast } from "../components/toast";
import { DocumentViewer } from "../components/DocumentViewer";

interface Sending { key: string; name: string; sent: number; total: number; error?: string }

/** A loop's documents: add by picker or drop (with progress), versions, review status, viewer. */
export function LoopDocuments({ loopId }: { loopId: string }) {
  const { permissions } = useSession();
  const qc = useQueryClient();
  const toast = useToast();
  const docs = useQuery({ queryKey: ["documents", loopId], queryFn: () => api.documents(loopId) });
  const [sending, setSending] = useState<Sending[]>([]);
  const [over, setOver] = useState(false);
  const [type, setType] = useState<DocumentType | "">("");
  const [viewing, setViewing] = useState<{ doc: DocumentRow; version: number } | null>(null);
  const [versionsOf, setVersionsOf] = useState<string | null>(null);
  const picker = useRef<HTMLInputElement>(null);
  const newVersionOf = useRef<string | null>(null);
  const canUpload = gate(permissions, "uploadDocument");
  const canSubmit = gate(permissions, "submitDocument");

  const add = (files: File[], versionOf: string | null) => {
    for (const file of files) {
      const key = `${file.name}-${Date.now()}-${Math.random()}`;
      setSending((s) => [...s, { key, name: file.name, sent: 0, total: file.size }]);
      const update = (patch: Partial<Sending>) => setSending((s) => s.map((x) => (x.key === key ? { ...x, ...patch } : x)));
      sendFile(file, { loopId, documentType: type || guessType(file.name), versionOf }, (sent) => update({ sent }))
        .then(() => {
          setSending((s) => s.filter((x) => x.key !== key));
          toast(`Added ${file.name}: encrypted on this device${versionOf ? " as a new version" : ""}`);
          void qc.invalidateQueries({ queryKey: ["documents"] });
        }, (e: AppError) => update({ error: e.message }));
    }
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    if (!canUpload.allowed) return toast(canUpload.reason ?? "You cannot add documents", "error");
    add(Array.from(e.dataTransfer.files), null);
  };
  const submit = (d: DocumentRow) => api.submitDocument(d.id).then(() => {
    toast(`Submitted ${d.original_name} for review`);
    void qc.invalidateQueries({ queryKey: ["documents"] });
    void qc.invalidateQueries({ queryKey: ["reviewQueue"] });
  }, (e: AppError) => toast(e.message, "error"));

  return (
    <section className="card" aria-label="Documents">
      <div className="row-between">
        <h2 className="card-title">Documents</h2>
        <div className="page-actions">
          <Select ariaLabel="Document type" value={type} onChange={(v) => setType(v as DocumentType | "")} options={[["", "Type: from the name"], ...DOCUMENT_TYPES.map((t): [string, string] => [t, label(t)])]} />
          <Button variant="primary" gate={canUpload} onClick={() => { newVersionOf.current = null; picker.current?.click(); }}>+ Add files</Button>
        </div>
      </div>
      <input ref={picker} type="file" multiple hidden data-testid="document-picker"
        onChange={(e) => { add(Array.from(e.target.files ?? []), newVersionOf.current); e.target.value = ""; }} />
      <div className={`dropzone${over ? " over" : ""}`} data-testid="dropzone"
        onDragOver={(e) => { e.preventDefault(); setOver(true); }} onDragLeave={() => setOver(false)} onDrop={onDrop}>
        <strong>Drop contracts, disclosures or inspection reports here</strong>
        <span className="muted small">PDF, Word, images · encrypted on this device before they are sent</span>
      </div>
      {sending.length > 0 ? (
        <ul className="uploads" aria-label="Uploads">
          {sending.map((s) => (
            <li key={s.key} className="upload-row">
              <span className="grow">{s.name} <span className="muted small">{bytes(s.total)}</span></span>
              {s.error ? (
                <>
                  <span className="field-error" role="alert">{s.error}</span>
                  <button type="button" className="link" onClick={() => setSending((x) => x.filter((y) => y.key !== s.key))}>Dismiss</button>
                </>
              ) : (
                <span className="upload-progress"><Progress value={percent(s.sent, s.total)} /><span className="muted small">{s.sent < s.total ? `${percent(s.sent, s.total)}%` : "Encrypting…"}</span></span>
              )}
            </li>
          ))}
        </ul>
      ) : null}
      {docs.isPending ? <Spinner /> : docs.error ? <ErrorBanner error={docs.error as AppError} onRetry={() => void docs.refetch()} /> : docs.data.length === 0 ? (
        <Empty title="No documents yet">Add the purchase agreement, disclosures and reports of this transaction.</Empty>
      ) : (
        <table className="simple-table docs-table">
          <thead><tr><th>Name</th><th>Type</th><th>Version</th><th>Status</th><th>Here</th><th aria-label="Actions" /></tr></thead>
          <tbody>
            {docs.data.map((d) => (
              <DocumentLine key={d.id} d={d} expanded={versionsOf === d.id}
                onToggle={() => setVersionsOf(versionsOf === d.id ? null : d.id)}
                onView={(version) => setViewing({ doc: d, version })}
                onSubmit={() => void submit(d)} canSubmit={canSubmit} canUpload={canUpload}
                onNewVersion={() => { newVersionOf.current = d.id; picker.current?.click(); }} />
            ))}
          </tbody>
        </table>
      )}
      {viewing ? <DocumentViewer doc={viewing.doc} version={viewing.version} onClose={() => setViewing(null)} /> : null}
    </section>
  );
}

function DocumentLine({ d, expanded, onToggle, onView, onSubmit, onNewVersion, canSubmit, canUpload }: {
  d: DocumentRow; expanded: boolean; onToggle: () => void; onView: (version: number) => void;
  onSubmit: () => void; onNewVersion: () => void;
  canSubmit: { allowed: boolean; reason?: string }; canUpload: { allowed: boolean; reason?: string };
}) {
  const versions = useQuery({ queryKey: ["documentVersions", d.id, d.version], queryFn: () => api.documentVersions(d.id), enabled: expanded });
  return (
    <>
      <tr>
        <td>
          <button type="button" className="link cell-strong" onClick={() => onView(d.version)}>{d.original_name}</button>
          <div className="muted small">{bytes(d.file_size)} · updated {relative(d.updated_at)}</div>
          {d.status === "RETURNED" && d.review_note ? <div className="review-note">Returned: {d.review_note}</div> : null}
        </td>
        <td>{label(d.document_type)}</td>
        <td><button type="button" className="link" onClick={onToggle} aria-expanded={expanded}>v{d.version}</button></td>
        <td><Badge tone={statusTone(d.status)}>{label(d.status)}</Badge></td>
        <td>{d.pending_upload ? <Badge tone="warn">To upload</Badge> : d.on_device ? <span className="muted small">On this device</span> : <span className="muted small">On the server</span>}</td>
        <td className="actions">
          <Button variant="ghost" onClick={() => onView(d.version)}>View</Button>
          <Button variant="ghost" gate={canUpload} onClick={onNewVersion}>New version</Button>
          {d.status === "DRAFT" || d.status === "RETURNED" ? <Button variant="secondary" gate={canSubmit} onClick={onSubmit}>Submit for review</Button> : null}
        </td>
      </tr>
      {expanded ? (
        <tr className="versions-row"><td colSpan={6}>
          {versions.isPending ? <Spinner /> : versions.error ? <ErrorBanner error={versions.error as AppError} /> : (
            <ul className="versions" aria-label={`Versions of ${d.original_name}`}>
              {versions.data.map((v) => (
                <li key={v.id}>
                  <button type="button" className="link" onClick={() => onView(v.version)}>v{v.version}</button>
                  <span>{v.original_name}</span><span className="muted small">{bytes(v.file_size)} · {relative(v.created_at)}</span>
                </li>
              ))}
            </ul>
          )}
        </td></tr>
      ) : null}
    </>
  );
}
