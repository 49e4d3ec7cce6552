// Multi-selection of table rows by id: click toggles, shift-click selects the range from the
// last clicked row. Pure, so the table keeps its selection across virtualized pages.

export interface Selection { ids: ReadonlySet<string>; anchor: number | null }

export const emptySelection: Selection = { ids: new Set(), anchor: null };

export function toggle(sel: Selection, id: string, index: number): Selection {
  const ids = new Set(sel.ids);
  if (ids.has(id)) ids.delete(id);
  else ids.add(id);
  return { ids, anchor: index };
}

/** Adds rows `anchor..=index` (ids known for the loaded rows only) to the selection. */
export function extend(
  sel: Selection, index: number, idAt: (i: number) => string | undefined,
): Selection {
  if (sel.anchor === null) {
    const id = idAt(index);
    return id ? toggle(sel, id, index) : sel;
  }
  const ids = new Set(sel.ids);
  const [a, b] = sel.anchor < index ? [sel.anchor, index] : [index, sel.anchor];
  for (let i = a; i <= b; i++) {
    const id = idAt(i);
    if (id) ids.add(id);
  }
  return { ids, anchor: index };
}

export function setAll(ids: string[], on: boolean, sel: Selection): Selection {
  const next = new Set(sel.ids);
  for (const id of ids) {
    if (on) next.add(id);
    else next.delete(id);
  }
  return { ids: next, anchor: sel.anchor };
}
