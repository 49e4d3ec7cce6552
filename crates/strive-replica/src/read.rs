//! Reads for the CLI and the desktop UI, answered by the replica alone, with no network.
//!
//! Results are the server's own types (`strive_domain::entities`) wherever one fits, so a screen
//! shows the same thing online and offline. Lists take a limit and offset and answer the total
//! matching, read in the same transaction as the page. Every list is one query for its rows,
//! names included, never one more per row. Instants compare as text: they are stored in one
//! fixed-width UTC form ([`crate::time`]).

mod documents;
pub use documents::DocumentRow;
mod overview;
mod rows;
#[cfg(test)]
mod tests;

use crate::error::ReplicaError;
use crate::open::Replica;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value as Sql;
use rusqlite::{params_from_iter, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use strive_domain::entities::{Contact, Deal, LoopWithTasks, TransactionLoop};
use strive_domain::{
    ContactId, ContactStatus, ContactType, DealId, DealStage, DealStatus, LoopId, LoopStatus,
    UserId,
};

/// The most rows one page answers; a larger limit is cut to this.
pub const MAX_LIMIT: u32 = 1000;

/// One page of a list and how many rows match in all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// A contact as lists and the detail view show it: with its assignee's name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactRow {
    #[serde(flatten)]
    pub contact: Contact,
    pub assignee_name: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactSort {
    /// Ignoring ASCII case.
    Name,
    #[default]
    CreatedAt,
    UpdatedAt,
    /// Contacts without a follow-up come last ascending, first descending (PostgreSQL's order).
    NextFollowUpAt,
}

impl ContactSort {
    /// ORDER BY terms; each list has an index (replica migration 0004) and ends in the id, so
    /// equal values keep one order from page to page.
    fn terms(self) -> &'static [&'static str] {
        match self {
            ContactSort::Name => &["c.name COLLATE NOCASE", "c.id"],
            ContactSort::CreatedAt => &["c.created_at", "c.id"],
            ContactSort::UpdatedAt => &["c.updated_at", "c.id"],
            ContactSort::NextFollowUpAt => {
                &["c.next_follow_up_at IS NULL", "c.next_follow_up_at", "c.id"]
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactQuery {
    /// Matches any part of the name, email, company or phone, ignoring case.
    pub search: Option<String>,
    pub status: Option<ContactStatus>,
    pub contact_type: Option<ContactType>,
    pub assigned_to: Option<UserId>,
    pub sort: ContactSort,
    pub descending: bool,
    pub limit: u32,
    pub offset: u32,
}

impl Default for ContactQuery {
    /// Newest first, as the server lists them.
    fn default() -> Self {
        ContactQuery {
            search: None,
            status: None,
            contact_type: None,
            assigned_to: None,
            sort: ContactSort::CreatedAt,
            descending: true,
            limit: 50,
            offset: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DealQuery {
    pub status: Option<DealStatus>,
    pub stage: Option<DealStage>,
    pub limit: u32,
    pub offset: u32,
}

impl Default for DealQuery {
    fn default() -> Self {
        DealQuery {
            status: None,
            stage: None,
            limit: 50,
            offset: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoopQuery {
    pub status: Option<LoopStatus>,
    pub limit: u32,
    pub offset: u32,
}

impl Default for LoopQuery {
    fn default() -> Self {
        LoopQuery {
            status: None,
            limit: 50,
            offset: 0,
        }
    }
}

/// A loop as the loop list shows it: its progress and how many of its tasks are done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopSummary {
    #[serde(flatten)]
    pub transaction_loop: TransactionLoop,
    pub task_count: i64,
    pub tasks_done: i64,
}

/// WHERE clauses joined by AND, with their parameters in order.
#[derive(Default)]
struct Filter {
    sql: String,
    args: Vec<Sql>,
}

impl Filter {
    fn eq(&mut self, column: &str, value: Option<impl ToString>) {
        if let Some(v) = value {
            self.and(&format!("{column} = ?"));
            self.args.push(Sql::Text(v.to_string()));
        }
    }

    fn and(&mut self, clause: &str) {
        self.sql += if self.sql.is_empty() {
            " WHERE "
        } else {
            " AND "
        };
        self.sql += clause;
    }

    /// Case-insensitive substring match over `columns`. SQLite's LIKE folds ASCII case only, so
    /// a needle with other letters compares against `strive_fold`ed columns (Unicode lowercase,
    /// as the server's `lower()`); the common ASCII needle keeps the built-in alone.
    /// Returns whether there was a needle to search for.
    fn search(&mut self, columns: &[&str], needle: Option<&str>) -> bool {
        let Some(needle) = needle.map(str::trim).filter(|n| !n.is_empty()) else {
            return false;
        };
        let any: Vec<String> = columns
            .iter()
            .map(|c| {
                if needle.is_ascii() {
                    format!("{c} LIKE ? ESCAPE '\\'")
                } else {
                    // Only a value with non-ASCII letters can match such a needle; checking that
                    // first (characters against bytes) keeps the Rust call off most rows.
                    format!(
                        "(length({c}) <> octet_length({c}) \
                          AND strive_fold({c}) LIKE ? ESCAPE '\\')"
                    )
                }
            })
            .collect();
        self.and(&format!("({})", any.join(" OR ")));
        let pattern = format!("%{}%", escape_like(&needle.to_lowercase()));
        self.args
            .extend(columns.iter().map(|_| Sql::Text(pattern.clone())));
        true
    }
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Registers `strive_fold(x)`, Unicode lowercase, for searches with non-ASCII letters.
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "strive_fold",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(ctx.get::<Option<String>>(0)?.map(|s| s.to_lowercase())),
    )
}

fn page_args(mut args: Vec<Sql>, limit: u32, offset: u32) -> Vec<Sql> {
    args.push(Sql::Integer(limit.min(MAX_LIMIT).into()));
    args.push(Sql::Integer(offset.into()));
    args
}

fn contact_row(r: &rusqlite::Row) -> rusqlite::Result<ContactRow> {
    Ok(ContactRow {
        contact: rows::contact(r)?,
        assignee_name: r.get(17)?,
    })
}

/// The statements answering a [`ContactQuery`]: the total, the page's row ids and the page.
struct ContactSql {
    count: String,
    /// Part of `page`, kept apart so a test can check its plan.
    #[cfg_attr(not(test), allow(dead_code))]
    ids: String,
    page: String,
    /// The filter's parameters (the page's limit and offset follow them).
    args: Vec<Sql>,
}

fn contact_sql(q: &ContactQuery) -> ContactSql {
    let mut f = Filter::default();
    f.eq("c.status", q.status);
    f.eq("c.contact_type", q.contact_type);
    f.eq("c.assigned_to_id", q.assigned_to);
    let searching = f.search(
        &["c.name", "c.email", "c.company", "c.phone"],
        q.search.as_deref(),
    );
    let dir = if q.descending { " DESC" } else { "" };
    let order: Vec<String> = q.sort.terms().iter().map(|t| format!("{t}{dir}")).collect();
    let order = order.join(", ");
    // The page's row ids first, read from the order's index alone when nothing filters; only
    // those rows are then read and joined. An offset deep into 100,000 contacts so costs a walk
    // of one index (1 ms), not 100,000 row reads and member lookups (100 ms).
    //
    // A search reads every row anyway: in table order, then sorting the few that match, rather
    // than in the order's index with a random row read each (100 ms against 25 ms at 100,000).
    let scan = if searching { " NOT INDEXED" } else { "" };
    let ids = format!(
        "SELECT c.rowid AS r FROM contacts c{scan}{} ORDER BY {order} LIMIT ? OFFSET ?",
        f.sql
    );
    // CROSS JOIN keeps the page as the outer loop (SQLite would rather walk all contacts in
    // order and probe the page).
    let page = format!(
        "SELECT {}, m.name FROM ({ids}) p CROSS JOIN contacts c ON c.rowid = p.r
           LEFT JOIN organization_members m ON m.user_id = c.assigned_to_id
          ORDER BY {order}",
        rows::CONTACT
    );
    ContactSql {
        count: format!("SELECT count(*) FROM contacts c{}", f.sql),
        ids,
        page,
        args: f.args,
    }
}

/// A pull of at least this many changes re-measures the tables for SQLite's planner.
const REMEASURE_AFTER: u64 = 10_000;

impl Replica {
    /// Re-measures the tables for SQLite's query planner (`ANALYZE`, about 1.5 ms per 1,000
    /// rows) after a pull of `changes` rows, when that many may have changed the data's shape or
    /// the replica was never measured. Without statistics SQLite takes any equality on an
    /// indexed column as selective: "status = ACTIVE" then sorts a third of the contacts instead
    /// of reading them in order (25 ms against 0.1 ms at 100,000 contacts).
    pub(crate) fn remeasure(&self, changes: u64) -> Result<(), ReplicaError> {
        let measured: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1')",
            [],
            |r| r.get(0),
        )?;
        if changes >= REMEASURE_AFTER || (changes > 0 && !measured) {
            self.conn.execute_batch("ANALYZE")?;
        }
        Ok(())
    }

    /// One page of contacts matching `q`, and how many match in all.
    pub fn contacts(&self, q: &ContactQuery) -> Result<Page<ContactRow>, ReplicaError> {
        let sql = contact_sql(q);
        let tx = self.conn.unchecked_transaction()?;
        let total: i64 = tx
            .prepare_cached(&sql.count)?
            .query_row(params_from_iter(&sql.args), |r| r.get(0))?;
        let args = page_args(sql.args, q.limit, q.offset);
        let items = tx
            .prepare_cached(&sql.page)?
            .query_map(params_from_iter(args), contact_row)?
            .collect::<Result<_, _>>()?;
        Ok(Page { items, total })
    }

    pub fn contact(&self, id: ContactId) -> Result<Option<ContactRow>, ReplicaError> {
        let sql = format!(
            "SELECT {}, m.name FROM contacts c
               LEFT JOIN organization_members m ON m.user_id = c.assigned_to_id
              WHERE c.id = ?1",
            rows::CONTACT
        );
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([id.to_string()], contact_row)
            .optional()?)
    }

    /// Deals, most recently changed first.
    pub fn deals(&self, q: &DealQuery) -> Result<Page<Deal>, ReplicaError> {
        let mut f = Filter::default();
        f.eq("d.status", q.status);
        f.eq("d.stage", q.stage);
        let tx = self.conn.unchecked_transaction()?;
        let total: i64 = tx
            .prepare_cached(&format!("SELECT count(*) FROM deals d{}", f.sql))?
            .query_row(params_from_iter(&f.args), |r| r.get(0))?;
        let sql = format!(
            "SELECT {} FROM deals d{} ORDER BY d.updated_at DESC, d.id DESC LIMIT ? OFFSET ?",
            rows::DEAL,
            f.sql
        );
        let items = tx
            .prepare_cached(&sql)?
            .query_map(
                params_from_iter(page_args(f.args, q.limit, q.offset)),
                rows::deal,
            )?
            .collect::<Result<_, _>>()?;
        Ok(Page { items, total })
    }

    pub fn deal(&self, id: DealId) -> Result<Option<Deal>, ReplicaError> {
        let sql = format!("SELECT {} FROM deals d WHERE d.id = ?1", rows::DEAL);
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([id.to_string()], rows::deal)
            .optional()?)
    }

    /// Loops, newest first (the server's order), each with its task counts: the page of loops
    /// is chosen first, then its tasks counted in the same statement.
    pub fn loops(&self, q: &LoopQuery) -> Result<Page<LoopSummary>, ReplicaError> {
        let mut f = Filter::default();
        f.eq("l.status", q.status);
        let tx = self.conn.unchecked_transaction()?;
        let total: i64 = tx
            .prepare_cached(&format!(
                "SELECT count(*) FROM transaction_loops l{}",
                f.sql
            ))?
            .query_row(params_from_iter(&f.args), |r| r.get(0))?;
        let sql = format!(
            "SELECT {}, count(t.id), count(CASE WHEN t.status = 'DONE' THEN 1 END)
               FROM (SELECT * FROM transaction_loops l{}
                      ORDER BY l.created_at DESC, l.id DESC LIMIT ? OFFSET ?) l
               LEFT JOIN transaction_tasks t ON t.loop_id = l.id
              GROUP BY l.id ORDER BY l.created_at DESC, l.id DESC",
            rows::LOOP,
            f.sql
        );
        let items = tx
            .prepare_cached(&sql)?
            .query_map(
                params_from_iter(page_args(f.args, q.limit, q.offset)),
                |r| {
                    Ok(LoopSummary {
                        transaction_loop: rows::transaction_loop(r)?,
                        task_count: r.get(12)?,
                        tasks_done: r.get(13)?,
                    })
                },
            )?
            .collect::<Result<_, _>>()?;
        Ok(Page { items, total })
    }

    /// The loop and its tasks in their order.
    pub fn loop_with_tasks(&self, id: LoopId) -> Result<Option<LoopWithTasks>, ReplicaError> {
        let tx = self.conn.unchecked_transaction()?;
        let sql = format!(
            "SELECT {} FROM transaction_loops l WHERE l.id = ?1",
            rows::LOOP
        );
        let Some(transaction_loop) = tx
            .prepare_cached(&sql)?
            .query_row([id.to_string()], rows::transaction_loop)
            .optional()?
        else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {} FROM transaction_tasks t WHERE t.loop_id = ?1 ORDER BY t.position, t.id",
            rows::TASK
        );
        let tasks = tx
            .prepare_cached(&sql)?
            .query_map([id.to_string()], rows::task)?
            .collect::<Result<_, _>>()?;
        Ok(Some(LoopWithTasks {
            transaction_loop,
            tasks,
        }))
    }
}
