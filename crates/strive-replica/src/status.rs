//! What the user is told about sync: refused changes, lost same-field edits, and the counts a
//! status line shows.

use crate::error::ReplicaError;
use crate::open::Replica;
use rusqlite::OptionalExtension;
use serde::Serialize;

/// A change of this device the server refused; its local effect has been rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub client_seq: i64,
    /// The mutation's name, e.g. `createContact`.
    pub mutation: String,
    pub code: String,
    pub message: String,
    pub at: String,
}

/// An edit of this device that another device's later edit of the same field overwrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub id: String,
    pub entity_type: String,
    pub entity_id: String,
    /// The entity's name or title when the replica still has it.
    pub entity_label: Option<String>,
    pub field: String,
    pub lost_value: Option<String>,
    pub winning_value: Option<String>,
    pub winner_user_id: String,
    pub winner_name: Option<String>,
    pub at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    pub last_seq: i64,
    pub pending: i64,
    pub last_sync_at: Option<String>,
    pub rejections: i64,
    pub conflicts: i64,
}

impl Replica {
    /// The server's refusals of this device's changes, newest first.
    pub fn rejections(&self) -> Result<Vec<Rejection>, ReplicaError> {
        let mut stmt = self.conn.prepare(
            "SELECT client_seq, json_extract(mutation, '$.type'), code, message, at
               FROM rejections ORDER BY client_seq DESC",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Rejection {
                    client_seq: r.get(0)?,
                    mutation: r.get(1)?,
                    code: r.get(2)?,
                    message: r.get(3)?,
                    at: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// This device's lost edits, newest first, with names resolved in one query.
    pub fn conflicts(&self) -> Result<Vec<Conflict>, ReplicaError> {
        let Some(session) = self.session()? else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn.prepare(
            "SELECT c.id, c.entity_type, c.entity_id,
                    coalesce(ct.name, d.title, l.property_address, t.title),
                    c.field, c.lost_value, c.winning_value, c.winner_user_id, m.name, c.created_at
               FROM conflicts c
               LEFT JOIN contacts ct ON c.entity_type = 'contact' AND ct.id = c.entity_id
               LEFT JOIN deals d ON c.entity_type = 'deal' AND d.id = c.entity_id
               LEFT JOIN transaction_loops l
                      ON c.entity_type IN ('loop', 'transaction_loop') AND l.id = c.entity_id
               LEFT JOIN transaction_tasks t
                      ON c.entity_type = 'transaction_task' AND t.id = c.entity_id
               LEFT JOIN organization_members m ON m.user_id = c.winner_user_id
              WHERE c.device_id = ?1
              ORDER BY c.created_at DESC, c.id DESC",
        )?;
        let rows = stmt
            .query_map([session.device.to_string()], |r| {
                Ok(Conflict {
                    id: r.get(0)?,
                    entity_type: r.get(1)?,
                    entity_id: r.get(2)?,
                    entity_label: r.get(3)?,
                    field: r.get(4)?,
                    lost_value: r.get(5)?,
                    winning_value: r.get(6)?,
                    winner_user_id: r.get(7)?,
                    winner_name: r.get(8)?,
                    at: r.get(9)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn status(&self) -> Result<SyncStatus, ReplicaError> {
        let device = self.session()?.map(|s| s.device.to_string());
        let (rejections, conflicts): (i64, i64) = self.conn.query_row(
            "SELECT (SELECT count(*) FROM rejections),
                    (SELECT count(*) FROM conflicts WHERE device_id = ?1)",
            [device],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(SyncStatus {
            last_seq: self.last_seq()?,
            pending: self.pending()?,
            last_sync_at: self.state_value("last_sync_at")?,
            rejections,
            conflicts,
        })
    }

    pub(crate) fn state_value(&self, key: &str) -> Result<Option<String>, ReplicaError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM sync_state WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub(crate) fn set_state_value(&self, key: &str, value: &str) -> Result<(), ReplicaError> {
        self.conn.execute(
            "INSERT INTO sync_state (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }
}
