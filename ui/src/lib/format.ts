// How values read on screen. Pure functions, unit-tested in tests/format.test.ts.

const usd0 = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 0 });
const usdCompact = new Intl.NumberFormat("en-US", {
  style: "currency", currency: "USD", notation: "compact", minimumFractionDigits: 0, maximumFractionDigits: 1,
});

/** Cents as dollars: `$450,000`; `compact` gives `$4.5M` for tight spaces. */
export function money(cents: number | null | undefined, compact = false): string {
  if (cents === null || cents === undefined) return "—";
  return (compact ? usdCompact : usd0).format(cents / 100);
}

/** Dollars typed in a form (`450,000`, `$1.2m`, `950k`) as cents, or null when unreadable. */
export function parseDollars(text: string): number | null {
  const t = text.trim().toLowerCase().replace(/[$,\s]/g, "");
  const m = /^(\d+(?:\.\d+)?)([km]?)$/.exec(t);
  if (!m) return null;
  const factor = m[2] === "m" ? 1_000_000 : m[2] === "k" ? 1_000 : 1;
  return Math.round(Number(m[1]) * factor * 100);
}

/** `LISTING_AGREEMENT` -> `Listing agreement`. */
export function label(value: string | null | undefined): string {
  if (!value) return "—";
  const s = value.toLowerCase().replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** "just now", "5 min ago", "3 h ago", "yesterday", or a date; future: "in 2 h", "in 3 days". */
export function relative(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) return "never";
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return "—";
  const diff = (now.getTime() - t) / 1000;
  const future = diff < 0;
  const s = Math.abs(diff);
  const say = (n: number, unit: string) => (future ? `in ${n} ${unit}` : `${n} ${unit} ago`);
  if (s < 45) return future ? "in a moment" : "just now";
  if (s < 3600) return say(Math.round(s / 60), "min");
  if (s < 86400) return say(Math.round(s / 3600), "h");
  const days = Math.round(s / 86400);
  if (days === 1) return future ? "tomorrow" : "yesterday";
  if (days < 14) return say(days, "days");
  return shortDate(iso);
}

export function shortDate(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  return d.toLocaleDateString("en-US", { month: "short", day: "numeric", year: "numeric" });
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  return d.toLocaleString("en-US", {
    weekday: "short", month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
  });
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const first = parts[0]?.[0] ?? "?";
  const last = parts.length > 1 ? (parts[parts.length - 1]?.[0] ?? "") : "";
  return (first + last).toUpperCase();
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
}

/** A file size for people: 0 B, 912 B, 14.2 KB, 3.1 MB. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v >= 100 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}
