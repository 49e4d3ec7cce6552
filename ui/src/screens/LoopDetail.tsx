import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../api/commands";
import type { AppError, Task } from "../api/types";
import { label, money, shortDate } from "../lib/format";
import { gate } from "../lib/permissions";
import { useSession } from "../session";
import { Badge, Empty, ErrorBanner, PageHeader, Progress, Spinner } from "../components/ui";
import { useToast } from "../components/toast";
import { LoopDocuments } from "./LoopDocuments";

/** One loop: its facts, progress, and the task checklist. */
export function LoopDetail({ id }: { id: string }) {
  const { permissions } = useSession();
  const qc = useQueryClient();
  const toast = useToast();
  const loop = useQuery({ queryKey: ["loop", id], queryFn: () => api.loopDetail(id) });
  const canComplete = gate(permissions, "completeTask");
  const canUpdate = gate(permissions, "updateTask");
  const flip = (t: Task) => {
    const next = t.status === "DONE" ? "PENDING" : "DONE";
    api.setTaskStatus(t.id, next).then(() => void qc.invalidateQueries(), (e: AppError) => toast(e.message, "error"));
  };
  const l = loop.data;
  return (
    <div className="page">
      <a href="#/loops" className="back">← Transactions</a>
      {loop.isPending ? <Spinner /> : loop.error ? <ErrorBanner error={loop.error as AppError} onRetry={() => void loop.refetch()} /> : l ? (
        <>
          <PageHeader title={l.property_address} subtitle={`${label(l.transaction_type)} · ${money(l.listing_price_cents)} · expected closing ${shortDate(l.expected_closing)}`} actions={<Badge tone="info">{label(l.status)}</Badge>} />
          <section className="card">
            <div className="row-between"><h2 className="card-title">Progress</h2><strong>{l.progress}%</strong></div>
            <Progress value={l.progress} />
          </section>
          <section className="card" aria-label="Tasks">
            <h2 className="card-title">Checklist</h2>
            {l.tasks.length === 0 ? <Empty title="No tasks" /> : (
              <ul className="checklist">
                {l.tasks.map((t) => {
                  const g = t.status === "DONE" ? canUpdate : canComplete;
                  return (
                    <li key={t.id} className={`check-item${t.status === "DONE" ? " done" : ""}`}>
                      <label title={g.allowed ? undefined : g.reason}>
                        <input type="checkbox" checked={t.status === "DONE"} disabled={!g.allowed} onChange={() => flip(t)} />
                        <span className="check-title">{t.title}</span>
                      </label>
                      <span className="muted small">{label(t.category)}</span>
                      <Badge tone={t.status === "DONE" ? "ok" : "neutral"}>{label(t.status)}</Badge>
                    </li>
                  );
                })}
              </ul>
            )}
          </section>
          <LoopDocuments loopId={l.id} />
        </>
      ) : null}
    </div>
  );
}
