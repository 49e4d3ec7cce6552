//! Transaction loop and task mutations (the platform's Pattern 2 and createTask).

use super::changes::{nullable, Changes, FieldValue};
use super::contacts::{require_some, text_change};
use crate::enums::{LoopStatus, TaskCategory, TaskPriority, TaskStatus, TransactionType};
use crate::ids::{LoopId, TaskId};
use crate::validation::{Checker, ValidationError};
use crate::values::{optional_text, percent, Cents, Text};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub type PropertyAddress = Text<5, 500>;
pub type TaskTitle = Text<3, 200>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateLoop {
    #[serde(default)]
    pub id: Option<LoopId>,
    #[cfg_attr(feature = "openapi", schema(min_length = 5, max_length = 500))]
    pub property_address: String,
    pub transaction_type: TransactionType,
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 1, maximum = 100_000_000_000_i64)
    )]
    pub listing_price_cents: i64,
    #[serde(default)]
    pub expected_closing: Option<NaiveDate>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewLoop {
    pub id: LoopId,
    pub property_address: String,
    pub transaction_type: TransactionType,
    pub listing_price: Cents,
    pub expected_closing: Option<NaiveDate>,
}

impl CreateLoop {
    pub fn validate(self) -> Result<NewLoop, ValidationError> {
        let mut c = Checker::new();
        let address = c.check(
            "property_address",
            PropertyAddress::parse(&self.property_address),
        );
        let price = c.check(
            "listing_price_cents",
            Cents::positive(self.listing_price_cents),
        );
        c.finish(|| {
            Some(NewLoop {
                id: self.id.unwrap_or_default(),
                property_address: address?.into_string(),
                transaction_type: self.transaction_type,
                listing_price: price?,
                expected_closing: self.expected_closing,
            })
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoopChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_type: Option<TransactionType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing_price_cents: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<LoopStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<i32>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub expected_closing: Option<Option<NaiveDate>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_closing: Option<Option<NaiveDate>>,
}

impl LoopChanges {
    pub fn validate(self) -> Result<Changes, ValidationError> {
        let nothing_sent = self == Self::default();
        let mut c = Checker::new();
        let mut out = Changes::default();
        if let Some(a) = self.property_address {
            if let Some(a) = c.check("property_address", PropertyAddress::parse(&a)) {
                out.set("property_address", FieldValue::Text(Some(a.into_string())));
            }
        }
        if let Some(t) = self.transaction_type {
            out.set(
                "transaction_type",
                FieldValue::Text(Some(t.as_str().into())),
            );
        }
        if let Some(p) = self.listing_price_cents {
            if let Some(p) = c.check("listing_price_cents", Cents::positive(p)) {
                out.set("listing_price_cents", FieldValue::Int(Some(p.get())));
            }
        }
        if let Some(s) = self.status {
            out.set("status", FieldValue::Text(Some(s.as_str().into())));
        }
        if let Some(p) = self.progress {
            if let Some(p) = c.check("progress", percent(p)) {
                out.set("progress", FieldValue::Int(Some(p.into())));
            }
        }
        if let Some(d) = self.expected_closing {
            out.set("expected_closing", FieldValue::Date(d));
        }
        if let Some(d) = self.actual_closing {
            out.set("actual_closing", FieldValue::Date(d));
        }
        require_some(&mut c, nothing_sent);
        c.finish(|| Some(out))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTask {
    #[serde(default)]
    pub id: Option<TaskId>,
    pub loop_id: LoopId,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub category: Option<TaskCategory>,
    #[serde(default)]
    pub priority: Option<TaskPriority>,
    #[serde(default)]
    pub due_date: Option<NaiveDate>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewTask {
    pub id: TaskId,
    pub loop_id: LoopId,
    pub title: String,
    pub description: Option<String>,
    pub category: TaskCategory,
    pub priority: TaskPriority,
    pub due_date: Option<NaiveDate>,
}

fn task_description(raw: &str) -> Result<Option<String>, crate::values::Invalid> {
    optional_text::<2000>(raw).map(|t| t.map(|t| t.into_string()))
}

impl CreateTask {
    pub fn validate(self) -> Result<NewTask, ValidationError> {
        let mut c = Checker::new();
        let title = c.check("title", TaskTitle::parse(&self.title));
        let description = c.check_opt(
            "description",
            self.description.as_deref().map(task_description),
        );
        c.finish(|| {
            Some(NewTask {
                id: self.id.unwrap_or_default(),
                loop_id: self.loop_id,
                title: title?.into_string(),
                description: description.flatten(),
                category: self.category.unwrap_or(TaskCategory::Other),
                priority: self.priority.unwrap_or(TaskPriority::Medium),
                due_date: self.due_date,
            })
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<TaskCategory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TaskStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<TaskPriority>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub due_date: Option<Option<NaiveDate>>,
}

impl TaskChanges {
    pub fn validate(self) -> Result<Changes, ValidationError> {
        let nothing_sent = self == Self::default();
        let mut c = Checker::new();
        let mut out = Changes::default();
        if let Some(t) = self.title {
            if let Some(t) = c.check("title", TaskTitle::parse(&t)) {
                out.set("title", FieldValue::Text(Some(t.into_string())));
            }
        }
        text_change(
            &mut c,
            &mut out,
            "description",
            self.description,
            task_description,
        );
        if let Some(v) = self.category {
            out.set("category", FieldValue::Text(Some(v.as_str().into())));
        }
        if let Some(v) = self.status {
            out.set("status", FieldValue::Text(Some(v.as_str().into())));
        }
        if let Some(v) = self.priority {
            out.set("priority", FieldValue::Text(Some(v.as_str().into())));
        }
        if let Some(v) = self.due_date {
            out.set("due_date", FieldValue::Date(v));
        }
        require_some(&mut c, nothing_sent);
        c.finish(|| Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_rules() {
        let bad = CreateLoop {
            id: None,
            property_address: "1 A".into(),
            transaction_type: TransactionType::PurchaseAgreement,
            listing_price_cents: 0,
            expected_closing: None,
        };
        let fields: Vec<_> = bad
            .validate()
            .unwrap_err()
            .fields
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(fields, vec!["property_address", "listing_price_cents"]);
    }

    #[test]
    fn task_rules() {
        let t = CreateTask {
            id: None,
            loop_id: LoopId::new(),
            title: "Go".into(),
            description: None,
            category: None,
            priority: None,
            due_date: None,
        };
        assert!(t.validate().unwrap_err().to_string().contains("at least 3"));
        let status: TaskChanges = serde_json::from_str(r#"{"status":"REVIEW"}"#).unwrap();
        assert_eq!(status.validate().unwrap().0.len(), 1);
    }
}
