//! SQLite rows into the domain's types. Each column list sits next to the function that reads
//! it, so the two change together. Text that does not parse (an unknown enum spelling, a broken
//! id) is a conversion error, never a guess.

use rusqlite::types::Type;
use rusqlite::Row;
use serde::de::DeserializeOwned;
use std::str::FromStr;
use strive_domain::entities::{Contact, Deal, Task, TransactionLoop};

type Result<T> = rusqlite::Result<T>;

fn bad(i: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e))
}

/// Column `i` parsed from its text: ids, enums, instants, dates.
pub fn parse<T: FromStr>(r: &Row, i: usize) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    r.get::<_, String>(i)?.parse().map_err(|e| bad(i, e))
}

pub fn parse_opt<T: FromStr>(r: &Row, i: usize) -> Result<Option<T>>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    r.get::<_, Option<String>>(i)?
        .map(|s| s.parse().map_err(|e| bad(i, e)))
        .transpose()
}

/// Column `i` holding JSON text (tags, audit values); NULL reads as JSON `null`.
pub fn json<T: DeserializeOwned>(r: &Row, i: usize) -> Result<T> {
    let text = r.get::<_, Option<String>>(i)?;
    serde_json::from_str(text.as_deref().unwrap_or("null")).map_err(|e| bad(i, e))
}

pub const CONTACT: &str = "c.id, c.organization_id, c.name, c.email, c.phone, c.company, \
    c.position, c.contact_type, c.status, c.notes, c.tags, c.assigned_to_id, \
    c.next_follow_up_at, c.last_contact_at, c.created_by, c.created_at, c.updated_at";

pub fn contact(r: &Row) -> Result<Contact> {
    Ok(Contact {
        id: parse(r, 0)?,
        organization_id: parse(r, 1)?,
        name: r.get(2)?,
        email: r.get(3)?,
        phone: r.get(4)?,
        company: r.get(5)?,
        position: r.get(6)?,
        contact_type: parse(r, 7)?,
        status: parse(r, 8)?,
        notes: r.get(9)?,
        tags: json(r, 10)?,
        assigned_to_id: parse_opt(r, 11)?,
        next_follow_up_at: parse_opt(r, 12)?,
        last_contact_at: parse_opt(r, 13)?,
        created_by: parse(r, 14)?,
        created_at: parse(r, 15)?,
        updated_at: parse(r, 16)?,
    })
}

pub const DEAL: &str = "d.id, d.organization_id, d.title, d.value_cents, d.stage, d.status, \
    d.probability, d.contact_id, d.assigned_to_id, d.expected_close_date, d.actual_close_date, \
    d.lost_reason, d.description, d.created_by, d.created_at, d.updated_at";

pub fn deal(r: &Row) -> Result<Deal> {
    Ok(Deal {
        id: parse(r, 0)?,
        organization_id: parse(r, 1)?,
        title: r.get(2)?,
        value_cents: r.get(3)?,
        stage: parse(r, 4)?,
        status: parse(r, 5)?,
        probability: r.get(6)?,
        contact_id: parse_opt(r, 7)?,
        assigned_to_id: parse_opt(r, 8)?,
        expected_close_date: parse_opt(r, 9)?,
        actual_close_date: parse_opt(r, 10)?,
        lost_reason: r.get(11)?,
        description: r.get(12)?,
        created_by: parse(r, 13)?,
        created_at: parse(r, 14)?,
        updated_at: parse(r, 15)?,
    })
}

pub const LOOP: &str = "l.id, l.organization_id, l.property_address, l.transaction_type, \
    l.listing_price_cents, l.status, l.progress, l.expected_closing, l.actual_closing, \
    l.created_by, l.created_at, l.updated_at";

pub fn transaction_loop(r: &Row) -> Result<TransactionLoop> {
    Ok(TransactionLoop {
        id: parse(r, 0)?,
        organization_id: parse(r, 1)?,
        property_address: r.get(2)?,
        transaction_type: parse(r, 3)?,
        listing_price_cents: r.get(4)?,
        status: parse(r, 5)?,
        progress: r.get(6)?,
        expected_closing: parse_opt(r, 7)?,
        actual_closing: parse_opt(r, 8)?,
        created_by: parse(r, 9)?,
        created_at: parse(r, 10)?,
        updated_at: parse(r, 11)?,
    })
}

pub const TASK: &str = "t.id, t.organization_id, t.loop_id, t.title, t.description, t.category, \
    t.status, t.priority, t.position, t.due_date, t.completed_at, t.created_by, t.created_at, \
    t.updated_at";

pub fn task(r: &Row) -> Result<Task> {
    Ok(Task {
        id: parse(r, 0)?,
        organization_id: parse(r, 1)?,
        loop_id: parse(r, 2)?,
        title: r.get(3)?,
        description: r.get(4)?,
        category: parse(r, 5)?,
        status: parse(r, 6)?,
        priority: parse(r, 7)?,
        position: r.get(8)?,
        due_date: parse_opt(r, 9)?,
        completed_at: parse_opt(r, 10)?,
        created_by: parse(r, 11)?,
        created_at: parse(r, 12)?,
        updated_at: parse(r, 13)?,
    })
}
