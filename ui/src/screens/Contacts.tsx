import { useEffect, useMemo, useRef, useState } from "react";
import { useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { createColumnHelper, flexRender, getCoreRowModel, useReactTable, type SortingState } from "@tanstack/react-table";
import { useVirtualizer } from "@tanstack/react-virtual";
import { api } from "../api/commands";
import type { AppError, Contact, ContactQuery, ContactSort, ContactStatus, ContactType, Page } from "../api/types";
import { label, plural, relative } from "../lib/format";
import { locate, pagesFor, PAGE_SIZE } from "../lib/paging";
import { gate } from "../lib/permissions";
import { emptySelection, extend, setAll, toggle, type Selection } from "../lib/selection";
import { useSession } from "../session";
import { Badge, Button, Empty, ErrorBanner, PageHeader, Select, Spinner } from "../components/ui";
import { useToast } from "../components/toast";
import { ContactForm } from "./ContactForm";

const ROW = 44;
const col = createColumnHelper<Contact>();
const STATUS_TONE: Record<string, string> = { ACTIVE: "ok", INACTIVE: "neutral", DO_NOT_CONTACT: "bad" };

interface Filters { search: string; status: string; type: string; assignee: string }

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function Contacts({ newContact }: { newContact: number }) {
  const { permissions } = useSession();
  const qc = useQueryClient();
  const toast = useToast();
  const [filters, setFilters] = useState<Filters>({ search: "", status: "", type: "", assignee: "" });
  const search = useDebounced(filters.search, 120);
  const [sorting, setSorting] = useState<SortingState>([{ id: "created_at", desc: true }]);
  const [selection, setSelection] = useState<Selection>(emptySelection);
  const [editing, setEditing] = useState<Contact | "new" | null>(null);
  const [assignTo, setAssignTo] = useState("");
  const members = useQuery({ queryKey: ["members"], queryFn: api.members });

  useEffect(() => { if (newContact > 0) setEditing("new"); }, [newContact]);

  const base: ContactQuery = useMemo(() => ({
    search: search || null,
    status: (filters.status || null) as ContactStatus | null,
    contact_type: (filters.type || null) as ContactType | null,
    assigned_to: filters.assignee || null,
    sort: (sorting[0]?.id ?? "created_at") as ContactSort,
    descending: sorting[0]?.desc ?? true,
    limit: PAGE_SIZE,
    offset: 0,
  }), [search, filters.status, filters.type, filters.assignee, sorting]);

  // The first page gives the total; the virtualizer then asks for the pages it shows.
  const first = useQuery({ queryKey: ["contacts", base, 0], queryFn: () => api.contacts(base), placeholderData: (p) => p });
  const total = first.data?.total ?? 0;
  const scroller = useRef<HTMLDivElement>(null);
  // The virtualizer's functions change as it scrolls; this component is not compiler-memoized.
  // eslint-disable-next-line react-hooks/incompatible-library
  const virtual = useVirtualizer({ count: total, getScrollElement: () => scroller.current, estimateSize: () => ROW, overscan: 12 });
  const items = virtual.getVirtualItems();
  const toTop = () => scroller.current?.scrollTo({ top: 0 });
  const neededKey = pagesFor(items[0]?.index ?? 0, items[items.length - 1]?.index ?? 0, total).filter((p) => p > 0).join(",");
  // Memoized: a new queries array on every render makes useQueries re-subscribe and render again.
  const needed = useMemo(() => (neededKey ? neededKey.split(",").map(Number) : []), [neededKey]);
  const queries = useMemo(() => needed.map((p) => ({
    queryKey: ["contacts", base, p],
    queryFn: () => api.contacts({ ...base, offset: p * PAGE_SIZE }),
    staleTime: 30_000,
  })), [needed, base]);
  const pages = useQueries({ queries });
  const pageData = new Map<number, Page<Contact>>();
  if (first.data) pageData.set(0, first.data);
  needed.forEach((p, i) => { const d = pages[i]?.data; if (d) pageData.set(p, d); });
  const rowAt = (index: number): Contact | undefined => {
    const { page, offset } = locate(index);
    return pageData.get(page)?.items[offset];
  };
  const visible = items.map((v) => rowAt(v.index)).filter((c): c is Contact => !!c);

  const columns = useMemo(() => [
    col.display({ id: "select", header: "", cell: () => null, size: 44 }),
    col.accessor("name", { header: "Name", size: 240, cell: (c) => <span className="cell-strong">{c.getValue()}</span> }),
    col.accessor("email", { header: "Email", enableSorting: false, size: 250, cell: (c) => c.getValue() ?? "—" }),
    col.accessor("company", { header: "Company", enableSorting: false, size: 180, cell: (c) => c.getValue() ?? "—" }),
    col.accessor("status", { header: "Status", enableSorting: false, size: 140, cell: (c) => <Badge tone={STATUS_TONE[c.getValue()]}>{label(c.getValue())}</Badge> }),
    col.accessor("assignee_name", { header: "Assigned to", enableSorting: false, size: 150, cell: (c) => c.getValue() ?? <span className="muted">Unassigned</span> }),
    col.accessor("next_follow_up_at", { header: "Follow-up", size: 130, cell: (c) => (c.getValue() ? relative(c.getValue()) : "—") }),
    col.accessor("created_at", { header: "Added", size: 120, cell: (c) => relative(c.getValue()) }),
  ], []);
  const table = useReactTable({
    data: visible, columns, state: { sorting }, getRowId: (r) => r.id,
    onSortingChange: (u) => { setSorting(u); toTop(); },
    manualSorting: true, enableSortingRemoval: false, getCoreRowModel: getCoreRowModel(),
    // The rows change with every scroll; the table's auto-resets would set its own state on
    // each change and render again, forever.
    autoResetAll: false,
  });
  const rowsById = new Map(table.getRowModel().rows.map((r) => [r.id, r]));
  const widths = table.getAllLeafColumns().map((c) => `${c.getSize()}px`).join(" ");

  const canCreate = gate(permissions, "createContact");
  const canAssign = gate(permissions, "bulkAssignContacts");
  const selected = selection.ids.size;
  const assign = () => {
    api.bulkAssign([...selection.ids], assignTo).then((r) => {
      toast(`Assigned ${plural(r.count, "contact")} to ${r.assignee}`);
      setSelection(emptySelection);
      void qc.invalidateQueries();
    }, (e: AppError) => toast(e.fields?.[0]?.message ?? e.message, "error"));
  };
  const setFilter = (k: keyof Filters) => (v: string) => setFilters((f) => ({ ...f, [k]: v }));
  const memberOptions: [string, string][] = (members.data ?? []).map((m) => [m.user_id, m.name || m.email]);
  const visibleIds = visible.map((c) => c.id);
  const allVisibleSelected = visibleIds.length > 0 && visibleIds.every((id) => selection.ids.has(id));

  return (
    <div className="page page-fill">
      <PageHeader title="Contacts" subtitle={first.data ? plural(total, "contact") : " "} actions={
        <Button variant="primary" gate={canCreate} onClick={() => setEditing("new")} title="New contact (N)">+ New contact</Button>
      } />
      <div className="toolbar">
        <input id="contact-search" className="input search" type="search" placeholder="Search name, email, company, phone  ( / )" value={filters.search} onChange={(e) => setFilter("search")(e.target.value)} aria-label="Search contacts" />
        <Select ariaLabel="Status" value={filters.status} onChange={setFilter("status")} options={[["", "All statuses"], ["ACTIVE", "Active"], ["INACTIVE", "Inactive"], ["DO_NOT_CONTACT", "Do not contact"]]} />
        <Select ariaLabel="Type" value={filters.type} onChange={setFilter("type")} options={[["", "All types"], ["PROSPECT", "Prospect"], ["CLIENT", "Client"], ["PAST_CLIENT", "Past client"], ["PARTNER", "Partner"], ["VENDOR", "Vendor"]]} />
        <Select ariaLabel="Assignee" value={filters.assignee} onChange={setFilter("assignee")} options={[["", "Anyone"], ...memberOptions]} />
      </div>
      {selected > 0 ? (
        <div className="selection-bar" role="region" aria-label="Selection">
          <strong>{plural(selected, "contact")} selected</strong>
          <Select ariaLabel="Assign to" value={assignTo} onChange={setAssignTo} options={[["", "Assign to…"], ...memberOptions]} />
          <Button variant="primary" gate={canAssign} disabled={!assignTo} onClick={assign}>Assign</Button>
          <Button variant="ghost" onClick={() => setSelection(emptySelection)}>Clear</Button>
        </div>
      ) : null}
      <ErrorBanner error={first.error as AppError | null} onRetry={() => void first.refetch()} />
      <div className="table" role="table" aria-label="Contacts" aria-rowcount={total}>
        <div className="thead" role="row" style={{ gridTemplateColumns: widths }}>
          {table.getHeaderGroups()[0]?.headers.map((h) => (
            <div key={h.id} role="columnheader" className={`th${h.column.getCanSort() ? " sortable" : ""}`}
              aria-sort={h.column.getIsSorted() === "asc" ? "ascending" : h.column.getIsSorted() === "desc" ? "descending" : undefined}
              onClick={h.column.getToggleSortingHandler()}>
              {h.id === "select" ? (
                <input type="checkbox" aria-label="Select all shown" checked={allVisibleSelected} onChange={(e) => setSelection((s) => setAll(visibleIds, e.target.checked, s))} />
              ) : flexRender(h.column.columnDef.header, h.getContext())}
              {h.column.getIsSorted() === "asc" ? " ↑" : h.column.getIsSorted() === "desc" ? " ↓" : ""}
            </div>
          ))}
        </div>
        <div className="tbody" ref={scroller} data-testid="contacts-scroller">
          {first.isPending ? <Spinner /> : total === 0 ? (
            search || filters.status || filters.type || filters.assignee
              ? <Empty title="No contacts match">Try another search or clear the filters.</Empty>
              : <Empty title="No contacts yet" action={<Button variant="primary" gate={canCreate} onClick={() => setEditing("new")}>Add your first contact</Button>}>Everyone you work with — buyers, sellers, partners — lives here.</Empty>
          ) : (
            <div style={{ height: virtual.getTotalSize(), position: "relative" }}>
              {items.map((v) => {
                const c = rowAt(v.index);
                const row = c ? rowsById.get(c.id) : undefined;
                return (
                  <div key={v.key} role="row" className={`tr${c && selection.ids.has(c.id) ? " selected" : ""}`}
                    style={{ transform: `translateY(${v.start}px)`, gridTemplateColumns: widths }}
                    onClick={() => c && setEditing(c)} data-index={v.index}>
                    {row ? row.getVisibleCells().map((cell) => (
                      <div key={cell.id} role="cell" className="td">
                        {cell.column.id === "select" ? (
                          <input type="checkbox" aria-label={`Select ${row.original.name}`} checked={selection.ids.has(row.id)}
                            onClick={(e) => {
                              e.stopPropagation();
                              const idx = v.index;
                              setSelection((s) => (e.shiftKey ? extend(s, idx, (i) => rowAt(i)?.id) : toggle(s, row.id, idx)));
                            }} onChange={() => {}} />
                        ) : flexRender(cell.column.columnDef.cell, cell.getContext())}
                      </div>
                    )) : <div className="td skeleton" role="cell" />}
                  </div>
                );
              })}
            </div>
          )}
        </div>
      </div>
      {editing ? <ContactForm contact={editing === "new" ? null : editing} onClose={() => setEditing(null)} /> : null}
    </div>
  );
}
