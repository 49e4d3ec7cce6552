import { createContext, useContext } from "react";
import type { AppStatus, Permissions, Profile } from "./api/types";
import type { SyncState } from "./lib/sync";

export interface Session {
  profile: Profile;
  permissions: Permissions | undefined;
  sync: SyncState;
  /** A command answered a new app status (org switched or created, signed out). */
  setStatus: (s: AppStatus) => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("useSession outside a signed-in screen");
  return s;
}
