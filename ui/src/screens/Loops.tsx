import { useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../api/commands";
import type { AppError, TransactionType } from "../api/types";
import { fieldErrors } from "../lib/errors";
import { label, money, parseDollars, plural, shortDate } from "../lib/format";
import { gate } from "../lib/permissions";
import { go } from "../lib/router";
import { useSession } from "../session";
import { Badge, Button, Empty, ErrorBanner, Field, Input, Modal, PageHeader, Progress, Select, Spinner } from "../components/ui";

const TYPES: TransactionType[] = ["PURCHASE_AGREEMENT", "LISTING_AGREEMENT", "LEASE_AGREEMENT", "COMMERCIAL_PURCHASE", "COMMERCIAL_LEASE"];

/** Transaction loops with their progress; a new loop comes with its four standard tasks. */
export function Loops() {
  const { permissions } = useSession();
  const [creating, setCreating] = useState(false);
  const loops = useQuery({ queryKey: ["loops"], queryFn: () => api.loops({ limit: 200, offset: 0 }) });
  const canView = gate(permissions, "viewLoops");
  const canCreate = gate(permissions, "createLoop");
  const l = loops.data;
  return (
    <div className="page">
      <PageHeader title="Transactions" subtitle={l ? plural(l.total, "transaction loop") : " "} actions={
        <Button variant="primary" gate={canCreate} onClick={() => setCreating(true)}>+ New loop</Button>
      } />
      {!canView.allowed && permissions ? <div className="banner">{canView.reason}</div> : null}
      <ErrorBanner error={loops.error as AppError | null} onRetry={() => void loops.refetch()} />
      {loops.isPending ? <Spinner /> : l && l.items.length > 0 ? (
        <div className="cards" aria-label="Transaction loops">
          {l.items.map((x) => (
            <a key={x.id} className="card card-link loop-card" href={`#/loops/${x.id}`}>
              <div className="row-between">
                <strong className="loop-address">{x.property_address}</strong>
                <Badge tone="info">{label(x.status)}</Badge>
              </div>
              <div className="muted small">{label(x.transaction_type)} · {money(x.listing_price_cents)} · closing {shortDate(x.expected_closing)}</div>
              <div className="row-between loop-progress">
                <Progress value={x.progress} />
                <span className="small">{x.tasks_done}/{x.task_count} tasks</span>
              </div>
            </a>
          ))}
        </div>
      ) : <Empty title="No transactions yet" action={<Button variant="primary" gate={canCreate} onClick={() => setCreating(true)}>Open your first loop</Button>}>A loop follows one property from listing to closing, with its checklist.</Empty>}
      {creating ? <LoopForm onClose={() => setCreating(false)} /> : null}
    </div>
  );
}

function LoopForm({ onClose }: { onClose: () => void }) {
  const qc = useQueryClient();
  const [address, setAddress] = useState("");
  const [type, setType] = useState<TransactionType>("PURCHASE_AGREEMENT");
  const [price, setPrice] = useState("");
  const [closing, setClosing] = useState("");
  const [error, setError] = useState<AppError | null>(null);
  const f = fieldErrors(error);
  const save = () => {
    const cents = parseDollars(price);
    if (cents === null) {
      setError({ code: "invalid", message: "", fields: [{ field: "listing_price_cents", message: "Enter a price, e.g. 450,000" }] });
      return;
    }
    api.createLoop({ property_address: address, transaction_type: type, listing_price_cents: cents, expected_closing: closing || null })
      .then((r) => { void qc.invalidateQueries(); onClose(); go("loops", r.id); }, setError);
  };
  return (
    <Modal title="New transaction loop" onClose={onClose} footer={<><Button onClick={onClose}>Cancel</Button><Button variant="primary" onClick={save}>Create loop</Button></>}>
      <form noValidate className="form-grid" onSubmit={(e) => { e.preventDefault(); save(); }} aria-label="Loop">
        <div className="span-2"><ErrorBanner error={error?.fields ? null : error} /></div>
        <div className="span-2"><Field label="Property address" error={f.property_address}><Input name="address" value={address} onChange={(e) => setAddress(e.target.value)} placeholder="12 Elm Street, Portland, OR" /></Field></div>
        <Field label="Type"><Select name="type" value={type} onChange={(v) => setType(v as TransactionType)} options={TYPES.map((t): [string, string] => [t, label(t)])} /></Field>
        <Field label="Listing price" error={f.listing_price_cents}><Input name="price" value={price} onChange={(e) => setPrice(e.target.value)} placeholder="$450,000" /></Field>
        <Field label="Expected closing"><Input name="closing" type="date" value={closing} onChange={(e) => setClosing(e.target.value)} /></Field>
        <p className="muted small span-2">Its four standard tasks — initial consultation, property inspection, offer review, final walkthrough — are added for you.</p>
        <button type="submit" hidden />
      </form>
    </Modal>
  );
}
