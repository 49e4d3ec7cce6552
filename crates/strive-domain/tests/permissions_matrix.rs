//! Checks every cell of the permissions table in `docs/permissions.md` against
//! `strive_domain::permissions::check`: every action × global role × organization role × tier.
//!
//! The table is written by hand; this test is what keeps it and the code in agreement. A new
//! action without a row, a row for an action that does not exist, or any cell that disagrees
//! with the code fails, and every disagreement is listed in one failure message.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use strive_domain::permissions::{check, Action, Decision, DenyKind};
use strive_domain::{GlobalRole, OrgRole, Tier};

// Embedded, not read by a path fixed at build time: a build reused from another checkout of the
// repository (a shared target directory) would look in that checkout.
const DOC_PATH: &str = "docs/permissions.md";
const DOC: &str = include_str!("../../../docs/permissions.md");
const START: &str = "<!-- matrix:start -->";
const END: &str = "<!-- matrix:end -->";
const HEADER: &str = "| action | min tier | SUPER_ADMIN | ADMIN | MODERATOR | USER |";
const NONE: &str = "—";

/// One row of the table: the lowest tier with the feature, and for each global role (in
/// `GlobalRole::ALL` order) the organization roles allowed, or `None` for `—`.
#[derive(Debug)]
struct Row {
    min_tier: Tier,
    allowed: Vec<Option<BTreeSet<OrgRole>>>,
}

fn letter(role: OrgRole) -> &'static str {
    match role {
        OrgRole::Owner => "O",
        OrgRole::Admin => "A",
        OrgRole::Member => "M",
        OrgRole::Viewer => "V",
    }
}

fn parse_letters(cell: &str) -> Result<Option<BTreeSet<OrgRole>>, String> {
    if cell == NONE {
        return Ok(None);
    }
    let mut roles = BTreeSet::new();
    for token in cell.split_whitespace() {
        let role = OrgRole::ALL
            .iter()
            .copied()
            .find(|r| letter(*r) == token)
            .ok_or_else(|| format!("'{token}' is not one of O A M V"))?;
        if !roles.insert(role) {
            return Err(format!("'{token}' appears twice"));
        }
    }
    if roles.is_empty() {
        return Err(format!("empty cell; write {NONE} for none"));
    }
    Ok(Some(roles))
}

/// Parses the table between the markers into rows by action name, in document order.
/// Problems with the table itself are pushed to `problems`.
fn parse_table(doc: &str, problems: &mut Vec<String>) -> Vec<(String, Row)> {
    let lines: Vec<&str> = doc.lines().map(str::trim).collect();
    let starts: Vec<usize> = (0..lines.len()).filter(|&i| lines[i] == START).collect();
    let ends: Vec<usize> = (0..lines.len()).filter(|&i| lines[i] == END).collect();
    assert!(
        starts.len() == 1 && ends.len() == 1 && starts[0] < ends[0],
        "{DOC_PATH} must contain exactly one line `{START}` followed by one line `{END}` \
         (found {} start and {} end markers)",
        starts.len(),
        ends.len()
    );
    let mut table = lines[starts[0] + 1..ends[0]]
        .iter()
        .copied()
        .filter(|l| !l.is_empty());

    assert_eq!(
        table.next(),
        Some(HEADER),
        "the matrix must start with the header `{HEADER}`"
    );
    let separator = table.next().unwrap_or_default();
    assert!(
        separator.starts_with('|')
            && separator
                .chars()
                .all(|c| matches!(c, '|' | '-' | ':' | ' ')),
        "the header must be followed by a separator line, found `{separator}`"
    );
    let header_roles: Vec<&str> = HEADER
        .trim_matches('|')
        .split('|')
        .map(str::trim)
        .skip(2)
        .collect();
    let expected_roles: Vec<&str> = GlobalRole::ALL.iter().map(|g| g.as_str()).collect();
    assert_eq!(
        header_roles, expected_roles,
        "the global-role columns must be GlobalRole::ALL in order"
    );

    let mut rows = Vec::new();
    for line in table {
        if !(line.starts_with('|') && line.ends_with('|')) {
            problems.push(format!("table line is not a row: `{line}`"));
            continue;
        }
        let cells: Vec<&str> = line[1..line.len() - 1].split('|').map(str::trim).collect();
        if cells.len() != 2 + GlobalRole::ALL.len() {
            problems.push(format!(
                "row has {} cells, expected {}: `{line}`",
                cells.len(),
                2 + GlobalRole::ALL.len()
            ));
            continue;
        }
        let action = cells[0].to_string();
        let min_tier = match cells[1].parse::<Tier>() {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("row {action}: min tier: {e}"));
                continue;
            }
        };
        let mut allowed = Vec::new();
        let mut ok = true;
        for (global, cell) in GlobalRole::ALL.iter().zip(&cells[2..]) {
            match parse_letters(cell) {
                Ok(a) => allowed.push(a),
                Err(e) => {
                    problems.push(format!("row {action}, column {global}: {e}"));
                    ok = false;
                }
            }
        }
        if ok {
            rows.push((action, Row { min_tier, allowed }));
        }
    }
    rows
}

/// The feature an action belongs to, from its name, as it appears in the upgrade message.
fn feature_from_name(action: &str) -> Option<&'static str> {
    let name = action.to_ascii_lowercase();
    if ["contact", "deal", "crm", "dashboard", "sync"]
        .iter()
        .any(|w| name.contains(w))
    {
        Some("CRM")
    } else if ["loop", "task", "activity", "document"]
        .iter()
        .any(|w| name.contains(w))
    {
        Some("transaction")
    } else {
        None
    }
}

/// The upgrade message for a feature that needs STARTER.
fn tier_message(feature: &str) -> String {
    format!("Upgrade to STARTER tier to access {feature} features")
}

#[derive(Debug, PartialEq, Eq)]
enum Expected {
    Allow,
    Deny(DenyKind),
}

fn expected(row: &Row, global_index: usize, org: OrgRole, tier: Tier) -> Expected {
    let custom_lacks_feature = row.min_tier == Tier::Starter && tier == Tier::Custom;
    if tier < row.min_tier || custom_lacks_feature {
        return Expected::Deny(DenyKind::Tier);
    }
    match &row.allowed[global_index] {
        None => Expected::Deny(DenyKind::GlobalRole),
        Some(roles) if !roles.contains(&org) => Expected::Deny(DenyKind::OrgRole),
        Some(_) => Expected::Allow,
    }
}

#[test]
fn every_cell_of_the_docs_matrix_matches_check() {
    let mut problems = Vec::new();
    let parsed = parse_table(DOC, &mut problems);

    // Exactly one row per action: none missing, none extra, none duplicated.
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for (name, row) in parsed {
        match rows.entry(name) {
            Entry::Occupied(e) => problems.push(format!("duplicate row for action {}", e.key())),
            Entry::Vacant(e) => {
                e.insert(row);
            }
        }
    }
    let known: BTreeSet<String> = Action::ALL.iter().map(Action::name).collect();
    for name in &known {
        if !rows.contains_key(name) {
            problems.push(format!("no row for action {name}"));
        }
    }
    for name in rows.keys() {
        if !known.contains(name) {
            problems.push(format!("row for unknown action {name}"));
        }
    }

    let mut checked = 0usize;
    for action in Action::ALL {
        let name = action.name();
        let Some(row) = rows.get(&name) else { continue };
        for (gi, &global) in GlobalRole::ALL.iter().enumerate() {
            for &org in OrgRole::ALL {
                for &tier in Tier::ALL {
                    checked += 1;
                    let cell = format!("{name} / {global} / {org} / {tier}");
                    let want = expected(row, gi, org, tier);
                    let got = check(global, org, tier, *action);
                    match (&want, &got) {
                        (Expected::Allow, Decision::Allow) => {}
                        (Expected::Deny(kind), Decision::Deny(denied)) if *kind == denied.kind => {
                            let message_ok = match kind {
                                DenyKind::Tier => feature_from_name(&name)
                                    .is_some_and(|f| denied.message == tier_message(f)),
                                DenyKind::GlobalRole => denied.message.contains(global.as_str()),
                                DenyKind::OrgRole => denied.message.contains(org.as_str()),
                            };
                            if !message_ok {
                                problems.push(format!(
                                    "{cell}: {kind:?} denial has unexpected message {:?}",
                                    denied.message
                                ));
                            }
                        }
                        _ => problems
                            .push(format!("{cell}: table says {want:?}, check gives {got:?}")),
                    }
                }
            }
        }
    }

    let expected_cells = Action::ALL.len() * 4 * 4 * 6;
    if checked != expected_cells {
        problems.push(format!(
            "checked {checked} cells, expected {expected_cells} (actions × 4 global roles × 4 \
             organization roles × 6 tiers)"
        ));
    }

    assert!(
        problems.is_empty(),
        "docs/permissions.md disagrees with permissions::check in {} place(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
    assert_eq!(checked, expected_cells);
    println!("checked {checked} cells of the permissions matrix");
}
