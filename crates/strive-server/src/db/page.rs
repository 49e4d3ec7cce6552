//! Keyset pagination: `(sort column, id)` after the last row seen, in an opaque cursor.

use crate::error::{ApiError, ApiResult};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, QueryBuilder};
use strive_domain::ValidationError;
use uuid::Uuid;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn limit(requested: Option<i64>) -> ApiResult<i64> {
        match requested {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    /// `rows` was fetched with `limit + 1`: the extra row only says another page exists.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> Cursor) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| cursor_of(r).encode())
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Cursor {
    v: String,
    id: Uuid,
}

impl Cursor {
    pub fn new(value: String, id: Uuid) -> Self {
        Self { v: value, id }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(raw: &str) -> ApiResult<Self> {
        URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| invalid("cursor", "is not a cursor this server gave out"))
    }
}

/// A timestamp in a cursor, at full (microsecond) precision so no row is skipped.
pub fn time_value(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[derive(Clone, Copy, Debug)]
pub struct SortKey {
    pub column: &'static str,
    pub desc: bool,
}

impl SortKey {
    pub fn parse(raw: Option<&str>, allowed: &[&'static str], default: &str) -> ApiResult<Self> {
        let raw = raw.unwrap_or(default);
        let (desc, name) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let column = allowed.iter().find(|c| **c == name).ok_or_else(|| {
            invalid(
                "sort",
                format!(
                    "must be one of {} (prefix - for descending)",
                    allowed.join(", ")
                ),
            )
        })?;
        Ok(Self { column, desc })
    }

    fn cast(&self) -> &'static str {
        if self.column.ends_with("_at") {
            "::timestamptz"
        } else {
            "::text"
        }
    }

    pub fn push_keyset(&self, qb: &mut QueryBuilder<'_, Postgres>, cursor: Option<&Cursor>) {
        if let Some(c) = cursor {
            qb.push(" AND (")
                .push(self.column)
                .push(", id) ")
                .push(if self.desc { "<" } else { ">" })
                .push(" (")
                .push_bind(c.v.clone())
                .push(self.cast())
                .push(", ")
                .push_bind(c.id)
                .push(")");
        }
    }

    pub fn push_order(&self, qb: &mut QueryBuilder<'_, Postgres>, limit: i64) {
        let dir = if self.desc { " DESC" } else { " ASC" };
        qb.push(" ORDER BY ")
            .push(self.column)
            .push(dir)
            .push(", id")
            .push(dir)
            .push(" LIMIT ")
            .push_bind(limit);
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid(ValidationError::single(field, message))
}
