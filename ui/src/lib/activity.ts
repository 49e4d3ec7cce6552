import type { ActivityItem } from "../api/types";

/** One line of the activity feed: "Ann Lee created contact “Carol Client”". */
export function describeActivity(a: ActivityItem): { who: string; text: string } {
  const who = a.user_name || "Someone";
  const verb = a.action.toLowerCase().replace(/_/g, " ");
  const kind = a.entity_type.replace(/_/g, " ").replace(/^transaction loop$/, "transaction").replace(/^loop$/, "transaction");
  const v = a.new_values ?? {};
  const name = ["name", "title", "property_address"]
    .map((k) => v[k])
    .find((x): x is string => typeof x === "string" && x.length > 0);
  return { who, text: `${verb} ${kind}${name ? ` “${name}”` : ""}` };
}
