// The contacts table reads the replica one page at a time for the rows on screen, so 100,000
// contacts cost what the visible few do.

export const PAGE_SIZE = 200;

/** The pages covering rows `start..=end` (inclusive), clamped to `total`. */
export function pagesFor(start: number, end: number, total: number, size = PAGE_SIZE): number[] {
  if (total <= 0 || end < start) return [];
  const last = Math.min(end, total - 1);
  const first = Math.max(0, start);
  const pages: number[] = [];
  for (let p = Math.floor(first / size); p <= Math.floor(last / size); p++) pages.push(p);
  return pages;
}

/** Where row `index` lives: its page and its place in that page. */
export function locate(index: number, size = PAGE_SIZE): { page: number; offset: number } {
  return { page: Math.floor(index / size), offset: index % size };
}
