//! contacts list | show | add | edit | assign: on the local replica, queued for the server.

use crate::context::{Ctx, Local};
use crate::output::{self, opt, short};
use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use strive_domain::mutations::contacts::{BulkAssignContacts, ContactChanges, CreateContact};
use strive_domain::mutations::{Mutation, Update};
use strive_domain::{ContactId, ContactStatus, ContactType, UserId};
use strive_replica::read::{ContactQuery, ContactSort};

#[derive(Subcommand)]
pub enum Contacts {
    /// List contacts, newest first; search and filter.
    List(List),
    /// One contact in full.
    Show { id: String },
    /// Add a contact.
    Add(Fields),
    /// Change some fields of a contact (an empty value clears an optional field).
    Edit {
        id: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Add every contact of a CSV file (header: name, email, phone, company, position, type,
    /// status, notes, tags; only name is required). All rows are checked first: one bad row
    /// adds nothing.
    Import { file: std::path::PathBuf },
    /// Assign contacts to a member (by email, name or id).
    Assign {
        /// The member who takes the contacts.
        #[arg(long)]
        to: String,
        /// Contact ids (or their first characters).
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Args)]
pub struct List {
    /// Part of the name, email, company or phone.
    #[arg(short, long)]
    search: Option<String>,
    /// ACTIVE, INACTIVE or DO_NOT_CONTACT.
    #[arg(long)]
    status: Option<ContactStatus>,
    /// PROSPECT, CLIENT, PAST_CLIENT, PARTNER or VENDOR.
    #[arg(long = "type")]
    contact_type: Option<ContactType>,
    /// Only contacts assigned to this member (email, name or id).
    #[arg(long)]
    assignee: Option<String>,
    /// name, created_at, updated_at or next_follow_up_at.
    #[arg(long, default_value = "created_at", value_parser = parse_sort)]
    sort: ContactSort,
    /// Oldest (or A) first.
    #[arg(long)]
    ascending: bool,
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[arg(long, default_value_t = 0)]
    offset: u32,
}

#[derive(Args, Default)]
pub struct Fields {
    /// Full name (2 to 100 characters; required to add).
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    company: Option<String>,
    /// Job title.
    #[arg(long)]
    position: Option<String>,
    /// PROSPECT (default), CLIENT, PAST_CLIENT, PARTNER or VENDOR.
    #[arg(long = "type")]
    contact_type: Option<ContactType>,
    /// ACTIVE (default), INACTIVE or DO_NOT_CONTACT.
    #[arg(long)]
    status: Option<ContactStatus>,
    #[arg(long)]
    notes: Option<String>,
    /// Comma-separated.
    #[arg(long, value_delimiter = ',')]
    tags: Option<Vec<String>>,
    /// When to follow up, RFC 3339 (2026-12-01T09:00:00Z).
    #[arg(long)]
    follow_up: Option<String>,
}

fn parse_sort(s: &str) -> Result<ContactSort, String> {
    serde_json::from_value(json!(s))
        .map_err(|_| "expected one of name, created_at, updated_at, next_follow_up_at".to_string())
}

/// `Some("")` clears an optional field, `Some(v)` sets it, `None` leaves it.
fn change(v: Option<String>) -> Option<Option<String>> {
    v.map(|v| Some(v).filter(|v| !v.trim().is_empty()))
}

fn follow_up(v: Option<String>) -> Result<Option<Option<chrono::DateTime<chrono::Utc>>>> {
    change(v)
        .map(|v| {
            v.map(|s| {
                chrono::DateTime::parse_from_rfc3339(&s)
                    .map(|d| d.with_timezone(&chrono::Utc))
                    .map_err(|e| {
                        anyhow!("--follow-up {s}: {e} (expected e.g. 2026-12-01T09:00:00Z)")
                    })
            })
            .transpose()
        })
        .transpose()
}

/// The row an id or unique id prefix names.
pub fn resolve(local: &Local, table: &str, what: &str, id: &str) -> Result<String> {
    if id.len() < 4 {
        bail!("give at least 4 characters of the {what} id (its first or last ones)");
    }
    match local.replica.ids_matching(table, id)?.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no {what} with id {id} on this device (`strive sync` brings the latest)"),
        _ => bail!("{id} names more than one {what}; give more of the id"),
    }
}

/// A member by email, name or id.
pub fn member(local: &Local, who: &str) -> Result<UserId> {
    let members = local.replica.members()?;
    let found: Vec<_> = members
        .iter()
        .filter(|m| {
            m.user_id.to_string().starts_with(who)
                || m.email.eq_ignore_ascii_case(who)
                || m.name.eq_ignore_ascii_case(who)
        })
        .collect();
    match found.as_slice() {
        [m] => Ok(m.user_id),
        [] => bail!("no member \"{who}\" in this organization"),
        _ => bail!("\"{who}\" names more than one member; use the email"),
    }
}

/// Applies and queues a mutation; says so.
pub fn queue(ctx: &Ctx, local: &mut Local, m: Mutation, done: &str) -> Result<()> {
    local.replica.mutate(m)?;
    let pending = local.replica.pending()?;
    if !ctx.json {
        println!("{done} {pending} change(s) wait for `strive sync`.");
    }
    Ok(())
}

pub fn run(ctx: &Ctx, c: Contacts) -> Result<()> {
    let mut local = ctx.local()?;
    match c {
        Contacts::List(l) => list(ctx, &local, l),
        Contacts::Show { id } => {
            let id: ContactId = resolve(&local, "contacts", "contact", &id)?.parse()?;
            let c = local
                .replica
                .contact(id)?
                .ok_or_else(|| anyhow!("contact not found"))?;
            if ctx.json {
                return output::json(&c);
            }
            let k = &c.contact;
            for (label, value) in [
                ("Name", k.name.clone()),
                ("Email", opt(k.email.as_ref())),
                ("Phone", opt(k.phone.as_ref())),
                ("Company", opt(k.company.as_ref())),
                ("Position", opt(k.position.as_ref())),
                ("Type", k.contact_type.to_string()),
                ("Status", k.status.to_string()),
                ("Tags", k.tags.join(", ")),
                ("Assigned to", opt(c.assignee_name.as_ref())),
                ("Follow up", opt(k.next_follow_up_at)),
                ("Notes", opt(k.notes.as_ref())),
                ("Id", k.id.to_string()),
            ] {
                println!("{label:<12} {value}");
            }
            Ok(())
        }
        Contacts::Add(f) => {
            let id = ContactId::new();
            let m = Mutation::CreateContact(CreateContact {
                id: Some(id),
                name: f
                    .name
                    .clone()
                    .ok_or_else(|| anyhow!("--name is required"))?,
                email: f.email,
                phone: f.phone,
                company: f.company,
                position: f.position,
                contact_type: f.contact_type,
                status: f.status,
                notes: f.notes,
                tags: f.tags.unwrap_or_default(),
                next_follow_up_at: follow_up(f.follow_up)?.flatten(),
                ..Default::default()
            });
            queue(
                ctx,
                &mut local,
                m,
                &format!("Added {} ({}).", f.name.unwrap_or_default(), short(id)),
            )?;
            if ctx.json {
                output::json(&json!({ "id": id }))?;
            }
            Ok(())
        }
        Contacts::Edit { id, fields: f } => {
            let id: ContactId = resolve(&local, "contacts", "contact", &id)?.parse()?;
            let changes = ContactChanges {
                name: f.name,
                email: change(f.email),
                phone: change(f.phone),
                company: change(f.company),
                position: change(f.position),
                contact_type: f.contact_type,
                status: f.status,
                notes: change(f.notes),
                tags: f.tags,
                next_follow_up_at: follow_up(f.follow_up)?,
                ..Default::default()
            };
            let m = Mutation::UpdateContact(Update {
                id,
                changes,
                base_seq: None,
            });
            queue(ctx, &mut local, m, "Saved.")
        }
        Contacts::Import { file } => super::import::contacts(ctx, &mut local, &file),
        Contacts::Assign { to, ids } => {
            let assignee = member(&local, &to)?;
            let contact_ids = ids
                .iter()
                .map(|i| Ok(resolve(&local, "contacts", "contact", i)?.parse()?))
                .collect::<Result<Vec<ContactId>>>()?;
            let n = contact_ids.len();
            let m = Mutation::BulkAssignContacts(BulkAssignContacts {
                contact_ids,
                assigned_to_id: assignee,
            });
            queue(
                ctx,
                &mut local,
                m,
                &format!("Assigned {n} contact(s) to {to}."),
            )
        }
    }
}

fn list(ctx: &Ctx, local: &Local, l: List) -> Result<()> {
    let assigned_to = l
        .assignee
        .as_deref()
        .map(|a| member(local, a))
        .transpose()?;
    let q = ContactQuery {
        search: l.search,
        status: l.status,
        contact_type: l.contact_type,
        assigned_to,
        sort: l.sort,
        descending: !l.ascending,
        limit: l.limit,
        offset: l.offset,
    };
    let page = local.replica.contacts(&q)?;
    if ctx.json {
        return output::json(&page);
    }
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|r| {
            let c = &r.contact;
            vec![
                short(c.id),
                c.name.clone(),
                opt(c.email.as_ref()),
                opt(c.company.as_ref()),
                c.status.to_string(),
                opt(r.assignee_name.as_ref()),
            ]
        })
        .collect();
    output::table(
        &["ID", "NAME", "EMAIL", "COMPANY", "STATUS", "ASSIGNED TO"],
        &rows,
    );
    println!("{} of {} contact(s)", page.items.len(), page.total);
    Ok(())
}
