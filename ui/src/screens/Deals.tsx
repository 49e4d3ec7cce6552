import { useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../api/commands";
import type { AppError, DealStage } from "../api/types";
import { fieldErrors } from "../lib/errors";
import { label, money, parseDollars, plural, shortDate } from "../lib/format";
import { gate } from "../lib/permissions";
import { useSession } from "../session";
import { Badge, Button, Empty, ErrorBanner, Field, Input, Modal, PageHeader, Select, Spinner } from "../components/ui";
import { useToast } from "../components/toast";

const STAGES: DealStage[] = ["LEAD", "QUALIFIED", "PROPOSAL", "NEGOTIATION", "CLOSING", "CLOSED_WON", "CLOSED_LOST"];

export function Deals() {
  const { permissions } = useSession();
  const [stage, setStage] = useState("");
  const [creating, setCreating] = useState(false);
  const deals = useQuery({
    queryKey: ["deals", stage],
    queryFn: () => api.deals({ limit: 500, offset: 0, stage: (stage || null) as DealStage | null }),
  });
  const canCreate = gate(permissions, "createDeal");
  const d = deals.data;
  const sum = d?.items.reduce((s, x) => s + x.value_cents, 0) ?? 0;
  return (
    <div className="page">
      <PageHeader title="Deals" subtitle={d ? `${plural(d.total, "deal")} · ${money(sum)} in view` : " "} actions={
        <Button variant="primary" gate={canCreate} onClick={() => setCreating(true)}>+ New deal</Button>
      } />
      <div className="toolbar">
        <Select ariaLabel="Stage" value={stage} onChange={setStage} options={[["", "All stages"], ...STAGES.map((s): [string, string] => [s, label(s)])]} />
      </div>
      <ErrorBanner error={deals.error as AppError | null} onRetry={() => void deals.refetch()} />
      {deals.isPending ? <Spinner /> : d && d.items.length > 0 ? (
        <table className="simple-table" aria-label="Deals">
          <thead><tr><th>Deal</th><th>Stage</th><th className="num">Value</th><th className="num">Probability</th><th>Expected close</th></tr></thead>
          <tbody>
            {d.items.map((x) => (
              <tr key={x.id}>
                <td className="cell-strong">{x.title}</td>
                <td><Badge tone={x.stage === "CLOSED_WON" ? "ok" : x.stage === "CLOSED_LOST" ? "bad" : "info"}>{label(x.stage)}</Badge></td>
                <td className="num">{money(x.value_cents)}</td>
                <td className="num">{x.probability}%</td>
                <td>{shortDate(x.expected_close_date)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : <Empty title={stage ? "No deals at this stage" : "No deals yet"} action={<Button variant="primary" gate={canCreate} onClick={() => setCreating(true)}>Add a deal</Button>}>Track every opportunity from lead to close.</Empty>}
      {creating ? <DealForm onClose={() => setCreating(false)} /> : null}
    </div>
  );
}

function DealForm({ onClose }: { onClose: () => void }) {
  const qc = useQueryClient();
  const toast = useToast();
  const [title, setTitle] = useState("");
  const [value, setValue] = useState("");
  const [stage, setStage] = useState<DealStage>("LEAD");
  const [probability, setProbability] = useState("50");
  const [close, setClose] = useState("");
  const [error, setError] = useState<AppError | null>(null);
  const f = fieldErrors(error);
  const save = () => {
    const cents = parseDollars(value);
    if (cents === null) {
      setError({ code: "invalid", message: "", fields: [{ field: "value_cents", message: "Enter an amount, e.g. 450,000" }] });
      return;
    }
    api.createDeal({ title, value_cents: cents, stage, probability: Number(probability), expected_close_date: close || null })
      .then(() => { void qc.invalidateQueries(); toast(`Added deal ${title.trim()}`); onClose(); }, setError);
  };
  return (
    <Modal title="New deal" onClose={onClose} footer={<><Button onClick={onClose}>Cancel</Button><Button variant="primary" onClick={save}>Add deal</Button></>}>
      <form noValidate className="form-grid" onSubmit={(e) => { e.preventDefault(); save(); }} aria-label="Deal">
        <div className="span-2"><ErrorBanner error={error?.fields ? null : error} /></div>
        <div className="span-2"><Field label="Title" error={f.title}><Input name="title" value={title} onChange={(e) => setTitle(e.target.value)} placeholder="12 Elm Street — purchase" /></Field></div>
        <Field label="Value" error={f.value_cents}><Input name="value" value={value} onChange={(e) => setValue(e.target.value)} placeholder="$450,000" /></Field>
        <Field label="Stage"><Select name="stage" value={stage} onChange={(v) => setStage(v as DealStage)} options={STAGES.map((s): [string, string] => [s, label(s)])} /></Field>
        <Field label="Probability (%)" error={f.probability}><Input name="probability" type="number" min={0} max={100} value={probability} onChange={(e) => setProbability(e.target.value)} /></Field>
        <Field label="Expected close"><Input name="close" type="date" value={close} onChange={(e) => setClose(e.target.value)} /></Field>
        <button type="submit" hidden />
      </form>
    </Modal>
  );
}
