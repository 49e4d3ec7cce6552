//! Applying a bulk pull page (`format=bulk`, see strive-server's `sync::pull`): after a first
//! line with the page's range, one section per table, each a JSON line naming the table and its
//! columns followed by PostgreSQL's binary `COPY` data of its rows; then the end line.
//!
//! Each column is decoded straight into the replica's prepared upsert, and stored exactly as the
//! NDJSON feed would store it (PostgreSQL's JSON rendering of the value, lists as JSON text, ...;
//! instants in `*_at` columns in [`crate::time`]'s canonical form, written directly), so a
//! replica is the same whichever format filled it. A page is one
//! SQLite transaction: its tables come one after another, not in sequence order, so its
//! `last_seq` is recorded only with the whole page.

use crate::apply::{self, Applied, Columns, PageEnd};
use crate::error::ReplicaError;
use rusqlite::types::{Null, Value as Sql};
use rusqlite::{Statement, Transaction, TransactionBehavior};
use serde::Deserialize;
use serde_json::Value;

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// The column types a bulk page may send (strive-server's `BINARY_TYPES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Uuid,
    Text,
    Int8,
    Int4,
    Int2,
    Bool,
    Date,
    Timestamptz,
    Timestamp,
    Jsonb,
    TextArray,
}

impl Ty {
    fn parse(name: &str) -> Result<Ty, ReplicaError> {
        Ok(match name {
            "uuid" => Ty::Uuid,
            "text" | "character varying" => Ty::Text,
            "bigint" => Ty::Int8,
            "integer" => Ty::Int4,
            "smallint" => Ty::Int2,
            "boolean" => Ty::Bool,
            "date" => Ty::Date,
            "timestamp with time zone" => Ty::Timestamptz,
            "timestamp without time zone" => Ty::Timestamp,
            "jsonb" => Ty::Jsonb,
            "text[]" => Ty::TextArray,
            other => return Err(bad(format!("a bulk column of unknown type {other}"))),
        })
    }
}

fn bad(msg: impl Into<String>) -> ReplicaError {
    ReplicaError::BadChange(msg.into())
}

/// A section or page line.
#[derive(Deserialize)]
struct Header {
    table: Option<String>,
    #[serde(default)]
    deleted: bool,
    columns: Option<Vec<(String, String)>>,
    #[serde(default)]
    end: bool,
    last_seq: Option<i64>,
    #[serde(default)]
    more: bool,
    #[serde(default)]
    full_resync: bool,
}

/// One column of a section: how to read it and which upsert parameter (1-based) it fills.
struct Field {
    name: String,
    ty: Ty,
    param: Option<usize>,
    /// An instant column ([`crate::time::is_time_column`]): stored in canonical form.
    time: bool,
}

enum Section {
    /// Before the first section, and between sections.
    None,
    Deleted,
    Table {
        table: &'static str,
        sql: String,
        fields: Vec<Field>,
        /// The field holding the row's key (for shadows).
        key: Option<usize>,
    },
    /// A table this version does not keep: its rows are read and dropped.
    Skip,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Line,
    Signature,
    Tuples,
}

/// One bulk page being applied, in its own transaction.
pub(crate) struct BulkPage<'c> {
    tx: Transaction<'c>,
    columns: &'c Columns,
    state: State,
    section: Section,
    rows: Rows,
}

/// What reading rows needs besides the transaction and the section.
struct Rows {
    /// The replica's `last_seq` before the page.
    have: i64,
    shadowing: bool,
    applied: Applied,
    /// Field offsets of the tuple being read.
    offsets: Vec<(usize, i32)>,
    scratch: String,
}

impl<'c> BulkPage<'c> {
    pub(crate) fn begin(
        conn: &'c mut rusqlite::Connection,
        columns: &'c Columns,
    ) -> Result<Self, ReplicaError> {
        // Immediate: the page's first statement already holds the write lock, so a write of
        // another connection in between cannot make this one fail half-way.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let have = apply::last_seq(&tx)?;
        let shadowing = apply::shadowing(&tx)?;
        Ok(BulkPage {
            tx,
            columns,
            state: State::Line,
            section: Section::None,
            rows: Rows {
                have,
                shadowing,
                applied: Applied::default(),
                offsets: Vec::with_capacity(32),
                scratch: String::with_capacity(256),
            },
        })
    }

    /// Applies every complete line and row at the start of `buf`; returns how many bytes it used
    /// (the rest is an unfinished line or row: call again with it and more bytes).
    pub(crate) fn feed(&mut self, buf: &[u8]) -> Result<usize, ReplicaError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Line => {
                    let Some(n) = buf[pos..].iter().position(|b| *b == b'\n') else {
                        return Ok(pos);
                    };
                    self.line(&buf[pos..pos + n])?;
                    pos += n + 1;
                }
                State::Signature => {
                    let rest = &buf[pos..];
                    if rest.len() < SIGNATURE.len() + 8 {
                        return Ok(pos);
                    }
                    if &rest[..SIGNATURE.len()] != SIGNATURE {
                        return Err(bad("a bulk section without its COPY signature"));
                    }
                    let flags = be_i32(&rest[11..15]);
                    if flags & (1 << 16) != 0 {
                        return Err(bad("a bulk section with OIDs"));
                    }
                    let ext = be_i32(&rest[15..19]).max(0) as usize;
                    if rest.len() < 19 + ext {
                        return Ok(pos);
                    }
                    pos += 19 + ext;
                    self.state = State::Tuples;
                }
                State::Tuples => {
                    let (used, trailer) = self.tuples(&buf[pos..])?;
                    pos += used;
                    if !trailer {
                        return Ok(pos);
                    }
                    self.state = State::Line;
                    self.section = Section::None;
                }
            }
        }
    }

    fn line(&mut self, raw: &[u8]) -> Result<(), ReplicaError> {
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(());
        }
        let h: Header = serde_json::from_slice(raw).map_err(|e| bad(e.to_string()))?;
        if h.end {
            self.rows.applied.end = Some(PageEnd {
                last_seq: h.last_seq.unwrap_or(self.rows.have),
                more: h.more,
                full_resync: h.full_resync,
            });
            return Ok(());
        }
        let Some(cols) = h.columns else {
            return Ok(()); // the page's first line: its range, for the fetching side
        };
        self.section = if h.deleted {
            let types: Vec<&str> = cols.iter().map(|(_, t)| t.as_str()).collect();
            if types != ["bigint", "text", "uuid"] {
                return Err(bad(format!("unexpected tombstone columns {types:?}")));
            }
            Section::Deleted
        } else {
            let table = h.table.unwrap_or_default();
            match apply::SYNCED.iter().find(|(t, _)| *t == table) {
                None => {
                    tracing::debug!(%table, "skipping changes of a table this version does not keep");
                    Section::Skip
                }
                Some((table, key)) => {
                    let (names, sql) = self
                        .columns
                        .get(table)
                        .ok_or_else(|| bad(format!("no columns for {table}")))?;
                    let fields = cols
                        .iter()
                        .map(|(name, ty)| {
                            Ok(Field {
                                param: names.iter().position(|n| n == name).map(|i| i + 1),
                                time: crate::time::is_time_column(name),
                                name: name.clone(),
                                ty: Ty::parse(ty)?,
                            })
                        })
                        .collect::<Result<Vec<_>, ReplicaError>>()?;
                    if fields.first().map(|f| f.ty) != Some(Ty::Int8) {
                        return Err(bad("a bulk section whose first column is not its number"));
                    }
                    Section::Table {
                        table,
                        sql: sql.clone(),
                        key: fields.iter().position(|f| f.name == *key),
                        fields,
                    }
                }
            }
        };
        self.state = State::Signature;
        Ok(())
    }

    /// Applies the complete rows at the start of `buf`: (bytes used, whether the section's
    /// trailer was reached).
    fn tuples(&mut self, buf: &[u8]) -> Result<(usize, bool), ReplicaError> {
        let mut stmt = match &self.section {
            Section::Table { sql, .. } => {
                let mut s = self.tx.prepare_cached(sql)?;
                s.clear_bindings();
                Some(s)
            }
            _ => None,
        };
        let mut pos = 0;
        loop {
            let Some(tuple_len) = self.rows.split(&buf[pos..])? else {
                return Ok((pos, false));
            };
            if tuple_len == 2 && be_i16(&buf[pos..]) == -1 {
                return Ok((pos + 2, true));
            }
            let tuple = &buf[pos..pos + tuple_len];
            match (&self.section, stmt.as_mut()) {
                (
                    Section::Table {
                        table, fields, key, ..
                    },
                    Some(stmt),
                ) => self
                    .rows
                    .upsert(&self.tx, stmt, table, fields, *key, tuple)?,
                (Section::Deleted, _) => self.rows.delete(&self.tx, tuple)?,
                (Section::Skip, _) => {}
                _ => return Err(bad("rows outside a section")),
            }
            pos += tuple_len;
        }
    }

    /// Records the page's `last_seq` and commits. Fails if the page did not reach its end line.
    pub(crate) fn finish(self) -> Result<Applied, ReplicaError> {
        let Some(end) = self.rows.applied.end.filter(|_| self.state == State::Line) else {
            return Err(bad("the pull ended before its last line (connection cut?)"));
        };
        if end.last_seq > self.rows.have {
            apply::set_last_seq(&self.tx, end.last_seq)?;
        }
        self.tx.commit()?;
        Ok(self.rows.applied)
    }
}

impl Rows {
    /// The length of the complete tuple (or trailer) at the start of `buf`, recording its field
    /// offsets; `None` when it is not all there yet.
    fn split(&mut self, buf: &[u8]) -> Result<Option<usize>, ReplicaError> {
        if buf.len() < 2 {
            return Ok(None);
        }
        let n = be_i16(buf);
        if n == -1 {
            return Ok(Some(2));
        }
        if n < 0 {
            return Err(bad("a bulk row with a negative field count"));
        }
        self.offsets.clear();
        let mut pos = 2;
        for _ in 0..n {
            if buf.len() < pos + 4 {
                return Ok(None);
            }
            let len = be_i32(&buf[pos..]);
            pos += 4;
            self.offsets.push((pos, len));
            if len > 0 {
                pos += len as usize;
                if buf.len() < pos {
                    return Ok(None);
                }
            }
        }
        Ok(Some(pos))
    }

    fn field<'t>(&self, tuple: &'t [u8], i: usize) -> Option<&'t [u8]> {
        let (at, len) = *self.offsets.get(i)?;
        (len >= 0).then(|| &tuple[at..at + len as usize])
    }

    fn upsert(
        &mut self,
        tx: &Transaction<'_>,
        stmt: &mut Statement<'_>,
        table: &'static str,
        fields: &[Field],
        key: Option<usize>,
        tuple: &[u8],
    ) -> Result<(), ReplicaError> {
        if self.offsets.len() != fields.len() {
            return Err(bad(format!(
                "a {table} row of {} fields, {} announced",
                self.offsets.len(),
                fields.len()
            )));
        }
        let seq = self
            .field(tuple, 0)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_be_bytes)
            .ok_or_else(|| bad("a bulk row without its number"))?;
        if seq <= self.have {
            return Ok(());
        }
        self.applied.upserts += 1;
        if self.shadowing {
            let id = match key.and_then(|k| self.field(tuple, k).map(|b| (k, b))) {
                Some((k, b)) => match decode(fields[k].ty, b, &mut self.scratch)? {
                    Val::Text(s) => Some(s.to_string()),
                    _ => None,
                },
                None => None,
            };
            if let Some(id) = id {
                if is_shadowed(tx, table, &id)? {
                    let mut row = serde_json::Map::new();
                    for (i, f) in fields.iter().enumerate() {
                        let v = match self.field(tuple, i) {
                            None => Value::Null,
                            Some(b) => decode_field(f, b, &mut self.scratch)?.to_json(),
                        };
                        row.insert(f.name.clone(), v);
                    }
                    apply::into_shadow(tx, table, &id, Some(&row))?;
                    return Ok(());
                }
            }
        }
        for (i, f) in fields.iter().enumerate() {
            let Some(p) = f.param else { continue };
            match self.field(tuple, i) {
                None => stmt.raw_bind_parameter(p, Null)?,
                Some(b) => match decode_field(f, b, &mut self.scratch)? {
                    Val::Null => stmt.raw_bind_parameter(p, Null)?,
                    Val::Int(x) => stmt.raw_bind_parameter(p, x)?,
                    Val::Real(x) => stmt.raw_bind_parameter(p, x)?,
                    Val::Text(s) => stmt.raw_bind_parameter(p, s)?,
                },
            }
        }
        stmt.raw_execute()?;
        Ok(())
    }

    fn delete(&mut self, tx: &Transaction<'_>, tuple: &[u8]) -> Result<(), ReplicaError> {
        let (Some(seq), Some(table), Some(id)) = (
            self.field(tuple, 0),
            self.field(tuple, 1),
            self.field(tuple, 2),
        ) else {
            return Err(bad("a tombstone with a missing field"));
        };
        let seq = i64::from_be_bytes(seq.try_into().map_err(|_| bad("a bad tombstone"))?);
        if seq <= self.have {
            return Ok(());
        }
        let table = std::str::from_utf8(table).map_err(|e| bad(e.to_string()))?;
        let Some(table) = apply::SYNCED.iter().map(|(t, _)| *t).find(|t| *t == table) else {
            tracing::debug!(%table, "skipping a delete in a table this version does not keep");
            return Ok(());
        };
        let id = match decode(Ty::Uuid, id, &mut self.scratch)? {
            Val::Text(s) => s.to_string(),
            _ => return Err(bad("a bad tombstone id")),
        };
        if !(self.shadowing && apply::into_shadow(tx, table, &id, None)?) {
            apply::delete_row(tx, table, &id)?;
        }
        self.applied.deletes += 1;
        Ok(())
    }
}

fn is_shadowed(tx: &Transaction<'_>, table: &str, id: &str) -> Result<bool, ReplicaError> {
    Ok(tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM shadows WHERE tbl = ?1 AND id = ?2)")?
        .query_row([table, id], |r| r.get(0))?)
}

fn be_i16(b: &[u8]) -> i16 {
    i16::from_be_bytes([b[0], b[1]])
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// A decoded column, as the replica stores it.
#[derive(Debug, PartialEq)]
enum Val<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
}

impl Val<'_> {
    fn to_json(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Int(x) => Value::from(*x),
            Val::Real(x) => Value::from(*x),
            Val::Text(s) => Value::from(*s),
        }
    }
}

/// Microseconds and days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;
const US_PER_DAY: i64 = 86_400_000_000;

/// [`decode`], with an instant column's value in canonical form (as [`apply::upsert_row`] stores
/// what the NDJSON feed sends).
fn decode_field<'a>(
    f: &Field,
    b: &'a [u8],
    scratch: &'a mut String,
) -> Result<Val<'a>, ReplicaError> {
    if !f.time {
        return decode(f.ty, b, scratch);
    }
    if f.ty == Ty::Timestamptz {
        let us = i64::from_be_bytes(
            b.try_into()
                .map_err(|_| bad(format!("a Timestamptz of {} bytes", b.len())))?,
        );
        if push_canonical(scratch, us) {
            return Ok(Val::Text(scratch));
        }
    }
    let normalized = match decode(f.ty, b, scratch)? {
        Val::Text(t) => crate::time::normalize(t),
        _ => None,
    };
    match normalized {
        Some(c) => {
            *scratch = c;
            Ok(Val::Text(scratch))
        }
        None => decode(f.ty, b, scratch),
    }
}

/// `us` (microseconds from PostgreSQL's epoch) as `YYYY-MM-DDTHH:MM:SS.ffffffZ` in `out`, the
/// canonical form of [`crate::time`]; false (and `out` unspecified) for instants that form has
/// no spelling for (infinities, years outside 1..=9999), which are stored as PostgreSQL spells
/// them.
fn push_canonical(out: &mut String, us: i64) -> bool {
    if us == i64::MAX || us == i64::MIN {
        return false;
    }
    let (days, rem) = (us.div_euclid(US_PER_DAY), us.rem_euclid(US_PER_DAY));
    let (y, m, d) = civil(days + PG_EPOCH_DAYS);
    if !(1..=9999).contains(&y) {
        return false;
    }
    out.clear();
    push_date(out, y, m, d);
    out.push('T');
    let (secs, frac) = (rem / 1_000_000, rem % 1_000_000);
    push2(out, (secs / 3600) as u32);
    out.push(':');
    push2(out, (secs / 60 % 60) as u32);
    out.push(':');
    push2(out, (secs % 60) as u32);
    out.push('.');
    push2(out, (frac / 10_000) as u32);
    push2(out, (frac / 100 % 100) as u32);
    push2(out, (frac % 100) as u32);
    out.push('Z');
    true
}

/// One column's binary value as the replica stores it: what the NDJSON feed's JSON for it
/// becomes. Text that has to be made is made in `scratch`.
fn decode<'a>(ty: Ty, b: &'a [u8], scratch: &'a mut String) -> Result<Val<'a>, ReplicaError> {
    let fixed = |n: usize| -> Result<&'a [u8], ReplicaError> {
        if b.len() == n {
            Ok(b)
        } else {
            Err(bad(format!("a {ty:?} of {} bytes", b.len())))
        }
    };
    Ok(match ty {
        Ty::Text => Val::Text(std::str::from_utf8(b).map_err(|e| bad(e.to_string()))?),
        Ty::Int8 => Val::Int(i64::from_be_bytes(fixed(8)?.try_into().unwrap_or_default())),
        Ty::Int4 => Val::Int(be_i32(fixed(4)?) as i64),
        Ty::Int2 => Val::Int(be_i16(fixed(2)?) as i64),
        Ty::Bool => Val::Int((fixed(1)?[0] != 0) as i64),
        Ty::Uuid => {
            let bytes: [u8; 16] = fixed(16)?.try_into().unwrap_or_default();
            scratch.clear();
            let mut buf = [0u8; 36];
            scratch.push_str(
                uuid::Uuid::from_bytes(bytes)
                    .hyphenated()
                    .encode_lower(&mut buf),
            );
            Val::Text(scratch)
        }
        Ty::Date => {
            let days = be_i32(fixed(4)?);
            scratch.clear();
            match days {
                i32::MAX => scratch.push_str("infinity"),
                i32::MIN => scratch.push_str("-infinity"),
                d => {
                    let (y, m, d) = civil(d as i64 + PG_EPOCH_DAYS);
                    push_date(scratch, y, m, d);
                    push_bc(scratch, y);
                }
            }
            Val::Text(scratch)
        }
        Ty::Timestamptz | Ty::Timestamp => {
            let us = i64::from_be_bytes(fixed(8)?.try_into().unwrap_or_default());
            scratch.clear();
            match us {
                i64::MAX => scratch.push_str("infinity"),
                i64::MIN => scratch.push_str("-infinity"),
                us => {
                    let (days, mut rem) = (us.div_euclid(US_PER_DAY), us.rem_euclid(US_PER_DAY));
                    let (y, m, d) = civil(days + PG_EPOCH_DAYS);
                    push_date(scratch, y, m, d);
                    scratch.push('T');
                    let frac = rem % 1_000_000;
                    rem /= 1_000_000;
                    push2(scratch, (rem / 3600) as u32);
                    scratch.push(':');
                    push2(scratch, (rem / 60 % 60) as u32);
                    scratch.push(':');
                    push2(scratch, (rem % 60) as u32);
                    if frac != 0 {
                        // PostgreSQL prints microseconds without trailing zeros.
                        let mut digits = [b'0'; 6];
                        let mut f = frac;
                        for slot in digits.iter_mut().rev() {
                            *slot = b'0' + (f % 10) as u8;
                            f /= 10;
                        }
                        let keep = 6 - digits.iter().rev().take_while(|d| **d == b'0').count();
                        scratch.push('.');
                        scratch.push_str(std::str::from_utf8(&digits[..keep]).unwrap_or(""));
                    }
                    if ty == Ty::Timestamptz {
                        // The feed's sessions run in UTC.
                        scratch.push_str("+00:00");
                    }
                    push_bc(scratch, y);
                }
            }
            Val::Text(scratch)
        }
        Ty::Jsonb => {
            let (version, text) = b.split_first().ok_or_else(|| bad("an empty jsonb"))?;
            if *version != 1 {
                return Err(bad(format!("jsonb version {version}")));
            }
            let v: Value = serde_json::from_slice(text).map_err(|e| bad(e.to_string()))?;
            match apply::to_sql(Some(&v)) {
                Sql::Null => Val::Null,
                Sql::Integer(x) => Val::Int(x),
                Sql::Real(x) => Val::Real(x),
                Sql::Text(s) => {
                    *scratch = s;
                    Val::Text(scratch)
                }
                Sql::Blob(_) => Val::Null,
            }
        }
        Ty::TextArray => {
            scratch.clear();
            text_array_json(b, scratch)?;
            Val::Text(scratch)
        }
    })
}

/// A `text[]` in PostgreSQL's binary array format, as the JSON text the NDJSON feed gives
/// (`["a","b"]`, nested for more dimensions, `null` for NULL elements).
fn text_array_json(b: &[u8], out: &mut String) -> Result<(), ReplicaError> {
    let short = || bad("a truncated text[]");
    if b.len() < 12 {
        return Err(short());
    }
    let ndim = be_i32(b).max(0) as usize;
    let mut dims = Vec::with_capacity(ndim);
    let mut pos = 12;
    for _ in 0..ndim {
        if b.len() < pos + 8 {
            return Err(short());
        }
        dims.push(be_i32(&b[pos..]).max(0) as usize);
        pos += 8;
    }
    if ndim == 0 {
        out.push_str("[]");
        return Ok(());
    }
    fn level(
        b: &[u8],
        pos: &mut usize,
        dims: &[usize],
        out: &mut String,
    ) -> Result<(), ReplicaError> {
        out.push('[');
        for i in 0..dims[0] {
            if i > 0 {
                out.push(',');
            }
            if dims.len() > 1 {
                level(b, pos, &dims[1..], out)?;
                continue;
            }
            if b.len() < *pos + 4 {
                return Err(bad("a truncated text[]"));
            }
            let len = be_i32(&b[*pos..]);
            *pos += 4;
            if len < 0 {
                out.push_str("null");
                continue;
            }
            let end = *pos + len as usize;
            let s = b
                .get(*pos..end)
                .ok_or_else(|| bad("a truncated text[]"))
                .and_then(|s| std::str::from_utf8(s).map_err(|e| bad(e.to_string())))?;
            push_json_str(out, s);
            *pos = end;
        }
        out.push(']');
        Ok(())
    }
    level(b, &mut pos, &dims, out)
}

/// A JSON string, escaped as serde_json escapes it.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 0xf] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// (year, month, day) of a day counted from 1970-01-01, proleptic Gregorian, astronomical
/// years (0 is 1 BC). Howard Hinnant's `civil_from_days`.
pub(crate) fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM-DD` as PostgreSQL prints it (years before 1 as their BC number, see [`push_bc`]).
fn push_date(out: &mut String, y: i64, m: u32, d: u32) {
    let year = if y > 0 { y } else { 1 - y };
    if (0..10_000).contains(&year) {
        let y = year as u32;
        push2(out, y / 100);
        push2(out, y % 100);
    } else {
        out.push_str(&year.to_string());
    }
    out.push('-');
    push2(out, m);
    out.push('-');
    push2(out, d);
}

fn push_bc(out: &mut String, y: i64) {
    if y <= 0 {
        out.push_str(" BC");
    }
}

fn push2(out: &mut String, v: u32) {
    out.push((b'0' + (v / 10 % 10) as u8) as char);
    out.push((b'0' + (v % 10) as u8) as char);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(ty: Ty, b: &[u8]) -> String {
        let mut s = String::new();
        match decode(ty, b, &mut s).unwrap() {
            Val::Text(t) => t.to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn times_read_as_postgresql_renders_them_in_json() {
        let us = |v: i64| v.to_be_bytes();
        assert_eq!(text(Ty::Timestamptz, &us(0)), "2000-01-01T00:00:00+00:00");
        assert_eq!(
            text(Ty::Timestamptz, &us(123_450_000)),
            "2000-01-01T00:02:03.45+00:00"
        );
        assert_eq!(
            text(Ty::Timestamptz, &us(-1)),
            "1999-12-31T23:59:59.999999+00:00"
        );
        assert_eq!(
            text(Ty::Timestamp, &us(86_400_000_000 * 60)),
            "2000-03-01T00:00:00"
        );
        assert_eq!(text(Ty::Timestamptz, &us(i64::MAX)), "infinity");
        assert_eq!(text(Ty::Date, &(-1i32).to_be_bytes()), "1999-12-31");
        assert_eq!(text(Ty::Date, &(9_825i32).to_be_bytes()), "2026-11-25");
        // 1 BC is the year before 1 AD.
        assert_eq!(
            text(Ty::Date, &(-730_120i32).to_be_bytes()),
            "0001-12-31 BC"
        );
    }

    #[test]
    fn instant_columns_are_stored_in_canonical_form() {
        let field = |ty| Field {
            name: "created_at".into(),
            ty,
            param: None,
            time: true,
        };
        let canon = |ty, b: &[u8]| {
            let mut s = String::new();
            match decode_field(&field(ty), b, &mut s).unwrap() {
                Val::Text(t) => t.to_string(),
                other => panic!("{other:?}"),
            }
        };
        let us = |v: i64| v.to_be_bytes();
        for v in [
            0,
            123_450_000,
            -1,
            851_558_400_123_456,
            i64::MAX,
            -63_200_000_000_000_000,
        ] {
            let pg = text(Ty::Timestamptz, &us(v));
            let want = crate::time::normalize(&pg).unwrap_or(pg);
            assert_eq!(canon(Ty::Timestamptz, &us(v)), want, "{v}");
        }
        assert_eq!(
            canon(Ty::Timestamptz, &us(123_450_000)),
            "2000-01-01T00:02:03.450000Z"
        );
        // Without a time zone PostgreSQL's spelling is no RFC 3339 instant: left as it is.
        assert_eq!(canon(Ty::Timestamp, &us(0)), "2000-01-01T00:00:00");
    }

    #[test]
    fn lists_read_as_json_text() {
        let mut b = Vec::new();
        for v in [1i32, 1, 25] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(&3i32.to_be_bytes());
        b.extend_from_slice(&1i32.to_be_bytes());
        for e in [Some("lead"), None, Some("a \"b\"\n")] {
            match e {
                Some(s) => {
                    b.extend_from_slice(&(s.len() as i32).to_be_bytes());
                    b.extend_from_slice(s.as_bytes());
                }
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        let expected = serde_json::json!(["lead", null, "a \"b\"\n"]).to_string();
        assert_eq!(text(Ty::TextArray, &b), expected);
        let empty = [0i32, 0, 25]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<_>>();
        assert_eq!(text(Ty::TextArray, &empty), "[]");
    }
}
