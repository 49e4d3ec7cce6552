import { useEffect, useState } from "react";

// Screens live in the URL hash (`#/contacts`, `#/loops/ID`), so reloading the web view keeps
// the place and tests can open a screen directly.

export interface Route { screen: string; id: string | null }

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  return { screen: parts[0] ?? "dashboard", id: parts[1] ?? null };
}

export function go(screen: string, id?: string) {
  window.location.hash = id ? `/${screen}/${id}` : `/${screen}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}
