//! contacts import: a CSV file into the local replica, every row checked before any is added.

use crate::context::{Ctx, Local};
use crate::output;
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use std::path::Path;
use strive_domain::mutations::contacts::CreateContact;
use strive_domain::mutations::Mutation;
use strive_domain::{ContactId, ContactStatus, ContactType};

#[derive(Deserialize)]
struct Row {
    name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    company: Option<String>,
    #[serde(default)]
    position: Option<String>,
    #[serde(default, rename = "type")]
    contact_type: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    notes: Option<String>,
    /// Separated by `;` or `,` inside the cell.
    #[serde(default)]
    tags: Option<String>,
}

fn blank_is_none(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

fn mutation(row: Row) -> Result<Mutation, String> {
    let contact_type = blank_is_none(row.contact_type)
        .map(|t| t.trim().to_uppercase().parse::<ContactType>())
        .transpose()
        .map_err(|e| format!("type: {e}"))?;
    let status = blank_is_none(row.status)
        .map(|t| t.trim().to_uppercase().parse::<ContactStatus>())
        .transpose()
        .map_err(|e| format!("status: {e}"))?;
    let tags = blank_is_none(row.tags)
        .map(|t| {
            t.split([';', ','])
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(Mutation::CreateContact(CreateContact {
        id: Some(ContactId::new()),
        name: row.name,
        email: blank_is_none(row.email),
        phone: blank_is_none(row.phone),
        company: blank_is_none(row.company),
        position: blank_is_none(row.position),
        contact_type,
        status,
        notes: blank_is_none(row.notes),
        tags,
        ..Default::default()
    }))
}

pub fn contacts(ctx: &Ctx, local: &mut Local, file: &Path) -> Result<()> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
        .with_context(|| format!("reading {}", file.display()))?;
    let mut mutations = Vec::new();
    let mut problems = Vec::new();
    for (i, row) in reader.deserialize::<Row>().enumerate() {
        let line = i + 2; // after the header, counting from 1
        let checked = row
            .map_err(|e| e.to_string())
            .and_then(mutation)
            .and_then(|m| m.clone().validate().map(|_| m).map_err(|e| e.to_string()));
        match checked {
            Ok(m) => mutations.push(m),
            Err(e) => problems.push(format!("line {line}: {e}")),
        }
    }
    if !problems.is_empty() {
        let shown = problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ");
        let more = problems.len().saturating_sub(20);
        bail!(
            "nothing imported: {} row(s) need fixing:\n  {shown}{}",
            problems.len(),
            if more > 0 {
                format!("\n  … and {more} more")
            } else {
                String::new()
            }
        );
    }
    let bar = ProgressBar::new(mutations.len() as u64);
    if ctx.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} contacts")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let n = mutations.len();
    for m in mutations {
        local.replica.mutate(m)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let pending = local.replica.pending()?;
    if ctx.json {
        return output::json(&serde_json::json!({ "imported": n, "pending": pending }));
    }
    println!("Imported {n} contact(s); {pending} change(s) wait for `strive sync`.");
    Ok(())
}
