import { useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { api } from "../api/commands";
import type { AppError, Contact } from "../api/types";
import { blankDraft, changes, draftOf, toInput, type ContactDraft } from "../lib/contactForm";
import { fieldErrors } from "../lib/errors";
import { Button, ErrorBanner, Field, Input, Modal, Select } from "../components/ui";
import { useToast } from "../components/toast";

const TYPES: [string, string][] = [["PROSPECT", "Prospect"], ["CLIENT", "Client"], ["PAST_CLIENT", "Past client"], ["PARTNER", "Partner"], ["VENDOR", "Vendor"]];
const STATUSES: [string, string][] = [["ACTIVE", "Active"], ["INACTIVE", "Inactive"], ["DO_NOT_CONTACT", "Do not contact"]];

/** Create or edit a contact; the shell validates with strive-domain and errors land on fields. */
export function ContactForm({ contact, onClose }: { contact: Contact | null; onClose: () => void }) {
  const qc = useQueryClient();
  const toast = useToast();
  const initial = contact ? draftOf(contact) : blankDraft;
  const [d, setD] = useState<ContactDraft>(initial);
  const [error, setError] = useState<AppError | null>(null);
  const [busy, setBusy] = useState(false);
  const f = fieldErrors(error);
  const set = (k: keyof ContactDraft) => (v: string) => setD((x) => ({ ...x, [k]: v }));
  const bind = (k: keyof ContactDraft) => ({ name: k, value: d[k], onChange: (e: { target: { value: string } }) => set(k)(e.target.value) });

  const save = () => {
    setBusy(true);
    setError(null);
    const run = contact ? api.updateContact(contact.id, changes(initial, d)) : api.createContact(toInput(d));
    run.then(() => {
      void qc.invalidateQueries();
      toast(contact ? `Saved ${d.name.trim()}` : `Added ${d.name.trim()}`);
      onClose();
    }, (e: AppError) => { setError(e); setBusy(false); });
  };

  return (
    <Modal title={contact ? `Edit ${contact.name}` : "New contact"} onClose={onClose} footer={
      <>
        <Button onClick={onClose}>Cancel</Button>
        <Button variant="primary" busy={busy} onClick={save}>{contact ? "Save changes" : "Add contact"}</Button>
      </>
    }>
      <form noValidate className="form-grid" onSubmit={(e) => { e.preventDefault(); save(); }} aria-label="Contact">
        <div className="span-2"><ErrorBanner error={error} /></div>
        <div className="span-2"><Field label="Full name" error={f.name}><Input {...bind("name")} placeholder="Carol Client" /></Field></div>
        <Field label="Email" error={f.email}><Input {...bind("email")} type="text" placeholder="carol@example.com" /></Field>
        <Field label="Phone" error={f.phone}><Input {...bind("phone")} placeholder="+1 415 555 0100" /></Field>
        <Field label="Company" error={f.company}><Input {...bind("company")} /></Field>
        <Field label="Position" error={f.position}><Input {...bind("position")} /></Field>
        <Field label="Type"><Select name="contact_type" value={d.contact_type} onChange={set("contact_type")} options={TYPES} /></Field>
        <Field label="Status"><Select name="status" value={d.status} onChange={set("status")} options={STATUSES} /></Field>
        <Field label="Next follow-up" error={f.next_follow_up_at}><Input {...bind("follow_up")} type="datetime-local" /></Field>
        <Field label="Tags" hint="Comma-separated" error={f.tags}><Input {...bind("tags")} placeholder="buyer, referral" /></Field>
        <div className="span-2"><Field label="Notes" error={f.notes}><textarea className="input" rows={3} {...bind("notes")} /></Field></div>
        <button type="submit" hidden />
      </form>
    </Modal>
  );
}
