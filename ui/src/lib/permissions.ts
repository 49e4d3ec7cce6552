import type { Permissions } from "../api/types";

export interface Gate { allowed: boolean; reason?: string }

/**
 * What the matrix (strive-domain, through the `permissions` command) says about an action.
 * Nothing is decided here: an action the answer does not list is denied.
 */
export function gate(perms: Permissions | undefined, action: string): Gate {
  if (!perms) return { allowed: false, reason: "Checking your permissions…" };
  const p = perms.actions.find((a) => a.action === action);
  if (!p) return { allowed: false, reason: "This action is not available" };
  return p.allowed ? { allowed: true } : { allowed: false, reason: p.reason };
}
