import { useEffect, useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../api/commands";
import { onWatch } from "../api/ipc";
import type { AppError, DocumentRow, DocumentType, ReviewItem } from "../api/types";
import { label, relative } from "../lib/format";
import { gate } from "../lib/permissions";
import { DOCUMENT_TYPES, statusTone } from "../lib/documents";
import { useSession } from "../session";
import { Badge, Button, Empty, ErrorBanner, Field, Input, Modal, PageHeader, Select, Spinner } from "../components/ui";
import { useToast } from "../components/toast";
import { DocumentViewer } from "../components/DocumentViewer";

/** Documents across transactions: the brokers' review queue, every document, the watched folder. */
export function Documents() {
  const { permissions } = useSession();
  const canReview = gate(permissions, "reviewDocument");
  return (
    <div className="page">
      <PageHeader title="Documents" subtitle="Contracts, disclosures and reports of your transactions, encrypted on this device before they leave it." />
      {canReview.allowed ? <ReviewQueue /> : null}
      <AllDocuments />
      <WatchedFolder />
    </div>
  );
}

function ReviewQueue() {
  const qc = useQueryClient();
  const toast = useToast();
  const queue = useQuery({ queryKey: ["reviewQueue"], queryFn: api.reviewQueue });
  const docs = useQuery({ queryKey: ["documents", null], queryFn: () => api.documents(null) });
  const [returning, setReturning] = useState<ReviewItem | null>(null);
  const [viewing, setViewing] = useState<DocumentRow | null>(null);
  const done = (text: string) => {
    toast(text);
    void qc.invalidateQueries({ queryKey: ["reviewQueue"] });
    void qc.invalidateQueries({ queryKey: ["documents"] });
  };
  const approve = (i: ReviewItem) =>
    api.reviewDocument(i.id, "APPROVE", null).then(() => done(`Approved ${i.original_name}`), (e: AppError) => toast(e.message, "error"));
  return (
    <section className="card" aria-label="Review queue">
      <h2 className="card-title">Waiting for review {queue.data?.length ? <Badge tone="info">{queue.data.length}</Badge> : null}</h2>
      {queue.isPending ? <Spinner /> : queue.error ? <ErrorBanner error={queue.error as AppError} onRetry={() => void queue.refetch()} /> : queue.data.length === 0 ? (
        <Empty title="Nothing to review">Documents your agents submit appear here, oldest first.</Empty>
      ) : (
        <ul className="list review-list">
          {queue.data.map((i) => {
            const doc = docs.data?.find((d) => d.id === i.id);
            return (
              <li key={i.id} className="list-row">
                <span className="grow">
                  <strong>{i.original_name}</strong> <span className="muted small">v{i.version} · {label(i.document_type)}</span>
                  <div className="muted small">{i.property_address} · submitted {i.submitted_by_name ? `by ${i.submitted_by_name} ` : ""}{relative(i.submitted_at)}</div>
                </span>
                <Button variant="ghost" disabled={!doc} onClick={() => doc && setViewing(doc)}>View</Button>
                <Button variant="secondary" onClick={() => setReturning(i)}>Return…</Button>
                <Button variant="primary" onClick={() => void approve(i)}>Approve</Button>
              </li>
            );
          })}
        </ul>
      )}
      {returning ? <ReturnForm item={returning} onClose={() => setReturning(null)} onDone={() => { setReturning(null); done(`Returned ${returning.original_name} with your note`); }} /> : null}
      {viewing ? <DocumentViewer doc={viewing} version={viewing.version} onClose={() => setViewing(null)} /> : null}
    </section>
  );
}

function ReturnForm({ item, onClose, onDone }: { item: ReviewItem; onClose: () => void; onDone: () => void }) {
  const [note, setNote] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const send = () => {
    setBusy(true);
    api.reviewDocument(item.id, "RETURN", note).then(onDone, (e: AppError) => {
      setBusy(false);
      setError(e.fields?.find((f) => f.field === "note")?.message ?? e.fields?.[0]?.message ?? e.message);
    });
  };
  return (
    <Modal title={`Return ${item.original_name}`} onClose={onClose} footer={
      <><Button variant="ghost" onClick={onClose}>Cancel</Button><Button variant="primary" busy={busy} onClick={send}>Return to agent</Button></>
    }>
      <Field label="What needs fixing (required)" error={error}>
        <textarea className="input" name="note" rows={4} value={note} onChange={(e) => setNote(e.target.value)} placeholder="e.g. Page 3 needs the buyer's initials" />
      </Field>
    </Modal>
  );
}

function AllDocuments() {
  const [status, setStatus] = useState("");
  const docs = useQuery({ queryKey: ["documents", null, status], queryFn: () => api.documents(null, (status || null) as DocumentRow["status"] | null) });
  const loops = useQuery({ queryKey: ["loops", "all"], queryFn: () => api.loops({ limit: 500, offset: 0 }) });
  const address = (id: string) => loops.data?.items.find((l) => l.id === id)?.property_address ?? "—";
  return (
    <section className="card" aria-label="All documents">
      <div className="row-between">
        <h2 className="card-title">All documents</h2>
        <Select ariaLabel="Status" value={status} onChange={setStatus} options={[["", "Any status"], ["DRAFT", "Draft"], ["SUBMITTED", "Submitted"], ["APPROVED", "Approved"], ["RETURNED", "Returned"]]} />
      </div>
      {docs.isPending ? <Spinner /> : docs.error ? <ErrorBanner error={docs.error as AppError} onRetry={() => void docs.refetch()} /> : docs.data.length === 0 ? (
        <Empty title="No documents yet">Open a transaction and drop its contracts and disclosures there.</Empty>
      ) : (
        <table className="simple-table">
          <thead><tr><th>Name</th><th>Transaction</th><th>Version</th><th>Status</th><th>Updated</th></tr></thead>
          <tbody>
            {docs.data.map((d) => (
              <tr key={d.id}>
                <td><a href={`#/loops/${d.loop_id}`} className="cell-strong">{d.original_name}</a></td>
                <td className="muted">{address(d.loop_id)}</td>
                <td>v{d.version}</td>
                <td><Badge tone={statusTone(d.status)}>{label(d.status)}</Badge>{d.pending_upload ? <> <Badge tone="warn">To upload</Badge></> : null}</td>
                <td className="muted small">{relative(d.updated_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function WatchedFolder() {
  const { permissions } = useSession();
  const qc = useQueryClient();
  const toast = useToast();
  const view = useQuery({ queryKey: ["watchFolder"], queryFn: api.watchFolder });
  const loops = useQuery({ queryKey: ["loops", "all"], queryFn: () => api.loops({ limit: 500, offset: 0 }) });
  const [dir, setDir] = useState<string | null>(null);
  const [loopId, setLoopId] = useState<string | null>(null);
  const [type, setType] = useState<DocumentType | null>(null);
  const [error, setError] = useState<AppError | null>(null);
  const canUpload = gate(permissions, "uploadDocument");
  useEffect(() => {
    const un = onWatch((e) => {
      if (e.kind === "imported") toast(`Imported ${e.name} from the watched folder`);
      else if (e.kind === "rejected") toast(`${e.name} was not imported: ${e.reason}`, "error");
      void qc.invalidateQueries({ queryKey: ["documents"] });
    });
    return () => void un.then((f) => f());
  }, [qc, toast]);
  const s = view.data?.setting;
  const cur = { dir: dir ?? s?.dir ?? "", loop_id: loopId ?? s?.loop_id ?? "", document_type: type ?? s?.document_type ?? "OTHER" };
  const save = (clear: boolean) => {
    setError(null);
    api.setWatchFolder(clear ? null : cur).then((v) => {
      qc.setQueryData(["watchFolder"], v);
      setDir(null); setLoopId(null); setType(null);
      toast(clear ? "Stopped watching the folder" : "Watching the folder");
    }, (e: AppError) => setError(e));
  };
  const fieldError = (f: string) => error?.fields?.find((x) => x.field === f)?.message;
  return (
    <section className="card" aria-label="Watched folder">
      <div className="row-between">
        <h2 className="card-title">Watched folder</h2>
        {view.data ? <Badge tone={view.data.running ? "ok" : view.data.error ? "bad" : "neutral"}>{view.data.running ? "Watching" : view.data.error ? "Stopped" : "Off"}</Badge> : null}
      </div>
      <p className="muted">Files saved into this folder on this computer are encrypted and added to the transaction you choose, then moved to its <code>imported</code> folder.</p>
      {view.data?.error ? <p className="field-error">{view.data.error}</p> : null}
      {error && !error.fields ? <ErrorBanner error={error} /> : null}
      <div className="form-grid">
        <Field label="Folder (full path)" error={fieldError("dir")}>
          <Input name="watch-dir" value={cur.dir} placeholder="/home/you/Scans" onChange={(e) => setDir(e.target.value)} />
        </Field>
        <Field label="Transaction" error={fieldError("loop_id")}>
          <Select ariaLabel="Transaction" value={cur.loop_id} onChange={setLoopId} options={[["", "Choose…"], ...(loops.data?.items ?? []).map((l): [string, string] => [l.id, l.property_address])]} />
        </Field>
        <Field label="Files are">
          <Select ariaLabel="Type of watched files" value={cur.document_type} onChange={(v) => setType(v as DocumentType)} options={DOCUMENT_TYPES.map((t): [string, string] => [t, label(t)])} />
        </Field>
      </div>
      <div className="page-actions">
        <Button variant="primary" gate={canUpload} disabled={!cur.dir || !cur.loop_id} onClick={() => save(false)}>Watch this folder</Button>
        {s ? <Button variant="ghost" onClick={() => save(true)}>Stop watching</Button> : null}
      </div>
    </section>
  );
}
