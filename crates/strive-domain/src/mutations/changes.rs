//! Partial updates as data: the list of (column, new value) an update changes. The server and
//! the replica both apply it column by column, and sync merges and reports conflicts per field.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

/// A new value for one column. `None` inside a variant means "set to NULL".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldValue {
    Text(Option<String>),
    Int(Option<i64>),
    Id(Option<Uuid>),
    Time(Option<DateTime<Utc>>),
    Date(Option<NaiveDate>),
    TextList(Vec<String>),
}

impl FieldValue {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// One changed column. Column names come from this crate, never from input.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub column: &'static str,
    pub value: FieldValue,
}

/// The changes of one update, never empty once validated.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes(pub Vec<Change>);

impl Changes {
    pub fn set(&mut self, column: &'static str, value: FieldValue) {
        self.0.push(Change { column, value });
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = &Change> {
        self.0.iter()
    }
    pub fn get(&self, column: &str) -> Option<&FieldValue> {
        self.0.iter().find(|c| c.column == column).map(|c| &c.value)
    }
    /// `{"column": value, ...}` for the audit log and the activity feed.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.0
                .iter()
                .map(|c| (c.column.to_string(), c.value.to_json()))
                .collect(),
        )
    }
}

/// For `Option<Option<T>>` fields: absent -> `None` (unchanged), `null` -> `Some(None)` (clear),
/// a value -> `Some(Some(v))`. Use with `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
