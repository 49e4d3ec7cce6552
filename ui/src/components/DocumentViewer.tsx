import { useEffect, useMemo, useRef, useState } from "react";
import { api } from "../api/commands";
import type { AppError, DocumentRow } from "../api/types";
import { bytes as size } from "../lib/format";
import { ErrorBanner, Modal, Spinner } from "./ui";

/**
 * Shows a document version in the app: the shell answers its decrypted bytes (never a path);
 * PDFs are drawn by pdf.js (loaded only when a PDF is opened), images as an image, anything
 * else is described.
 */
export function DocumentViewer({ doc, version, onClose }: { doc: DocumentRow; version: number; onClose: () => void }) {
  const [data, setData] = useState<Uint8Array | null>(null);
  const [error, setError] = useState<AppError | null>(null);
  useEffect(() => {
    let live = true;
    api.openDocument(doc.id, version).then((b) => { if (live) setData(b); }, (e: AppError) => { if (live) setError(e); });
    return () => { live = false; };
  }, [doc.id, version]);
  const title = `${doc.original_name} · v${version}`;
  return (
    <Modal title={title} onClose={onClose} wide>
      {error ? <ErrorBanner error={error} /> : !data ? <Spinner label="Decrypting…" /> : doc.mime_type === "application/pdf" ? (
        <PdfPages data={data} />
      ) : doc.mime_type.startsWith("image/") ? (
        <ImageView data={data} mime={doc.mime_type} />
      ) : (
        <p className="muted">No preview for this kind of file ({doc.mime_type}, {size(data.length)}).</p>
      )}
    </Modal>
  );
}

function ImageView({ data, mime }: { data: Uint8Array; mime: string }) {
  const url = useMemo(() => URL.createObjectURL(new Blob([data.slice()], { type: mime })), [data, mime]);
  useEffect(() => () => URL.revokeObjectURL(url), [url]);
  return <img className="doc-image" src={url} alt="" />;
}

function PdfPages({ data }: { data: Uint8Array }) {
  const box = useRef<HTMLDivElement>(null);
  const [pages, setPages] = useState<number | null>(null);
  const [error, setError] = useState<AppError | null>(null);
  useEffect(() => {
    let cancelled = false;
    let destroy: (() => void) | undefined;
    (async () => {
      const pdfjs = await import("pdfjs-dist");
      const worker = await import("pdfjs-dist/build/pdf.worker.min.mjs?url");
      pdfjs.GlobalWorkerOptions.workerSrc = worker.default;
      // pdf.js takes ownership of the buffer it is given: hand it a copy.
      const task = pdfjs.getDocument({ data: data.slice(), isEvalSupported: false });
      destroy = () => void task.destroy();
      const pdf = await task.promise;
      if (cancelled) return;
      setPages(pdf.numPages);
      for (let n = 1; n <= Math.min(pdf.numPages, 50); n++) {
        const page = await pdf.getPage(n);
        if (cancelled || !box.current) return;
        const viewport = page.getViewport({ scale: 1.4 });
        const canvas = document.createElement("canvas");
        canvas.width = viewport.width;
        canvas.height = viewport.height;
        canvas.className = "pdf-page";
        canvas.setAttribute("aria-label", `Page ${n}`);
        box.current.appendChild(canvas);
        await page.render({ canvas, viewport }).promise;
      }
    })().catch((e: unknown) => {
      if (!cancelled) setError({ code: "damaged", message: `This PDF cannot be shown: ${e instanceof Error ? e.message.split("\n")[0] : "unreadable"}` });
    });
    return () => { cancelled = true; destroy?.(); };
  }, [data]);
  return (
    <div className="pdf-view" data-testid="pdf-view">
      {error ? <ErrorBanner error={error} /> : pages === null ? <Spinner label="Opening PDF…" /> : <p className="muted small">{pages} page{pages === 1 ? "" : "s"}</p>}
      <div ref={box} className="pdf-pages" />
    </div>
  );
}
