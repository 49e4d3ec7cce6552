import type { ActivityItem } from "../api/types";

/** The record's name as its audit row carries it, if any. */
const NAME_KEYS = ["name", "title", "property_address", "file_name", "original_name"];

/**
 * One line of the activity feed: "Ann Lee created contact “Carol Client”", "Ann Lee uploaded
 * document “offer.pdf”", "Ann Lee updated progress of transaction". Actions that already name
 * their object (`uploaded_document`, `completed_task`) do not repeat the record's kind.
 */
export function describeActivity(a: ActivityItem): { who: string; text: string } {
  const who = a.user_name || "Someone";
  const verb = a.action.toLowerCase().replace(/_/g, " ");
  const kind = a.entity_type.replace(/_/g, " ").replace(/^transaction loop$/, "transaction").replace(/^loop$/, "transaction");
  const verbWords = verb.split(" ");
  const object = verbWords.length > 1 && verbWords[0] !== "bulk" ? verbWords[verbWords.length - 1] : null;
  let what: string;
  if (object === null) what = `${verb} ${kind}`;
  else if (kind.split(" ").pop() === object) what = verb;
  else what = `${verb} of ${kind}`;
  const v = a.new_values ?? {};
  const name = NAME_KEYS.map((k) => v[k]).find((x): x is string => typeof x === "string" && x.length > 0);
  return { who, text: `${what}${name ? ` “${name}”` : ""}` };
}
