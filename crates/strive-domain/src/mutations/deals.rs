//! Deal mutations (the platform's createDealSchema, P branch).

use super::changes::{nullable, Changes, FieldValue};
use super::contacts::{require_some, text_change};
use crate::enums::{DealStage, DealStatus};
use crate::ids::{ContactId, DealId, UserId};
use crate::validation::{Checker, ValidationError};
use crate::values::{optional_text, percent, Cents, Text};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub type DealTitle = Text<2, 255>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateDeal {
    #[serde(default)]
    pub id: Option<DealId>,
    #[cfg_attr(feature = "openapi", schema(min_length = 2, max_length = 255))]
    pub title: String,
    #[cfg_attr(
        feature = "openapi",
        schema(minimum = 1, maximum = 100_000_000_000_i64)
    )]
    pub value_cents: i64,
    #[serde(default)]
    pub stage: Option<DealStage>,
    #[serde(default)]
    pub status: Option<DealStatus>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub probability: Option<i32>,
    #[serde(default)]
    pub contact_id: Option<ContactId>,
    #[serde(default)]
    pub assigned_to_id: Option<UserId>,
    #[serde(default)]
    pub expected_close_date: Option<NaiveDate>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewDeal {
    pub id: DealId,
    pub title: String,
    pub value: Cents,
    pub stage: DealStage,
    pub status: DealStatus,
    pub probability: i32,
    pub contact_id: Option<ContactId>,
    pub assigned_to_id: Option<UserId>,
    pub expected_close_date: Option<NaiveDate>,
    pub description: Option<String>,
}

fn description(raw: &str) -> Result<Option<String>, crate::values::Invalid> {
    optional_text::<5000>(raw).map(|t| t.map(|t| t.into_string()))
}

fn lost_reason(raw: &str) -> Result<Option<String>, crate::values::Invalid> {
    optional_text::<500>(raw).map(|t| t.map(|t| t.into_string()))
}

impl CreateDeal {
    pub fn validate(self) -> Result<NewDeal, ValidationError> {
        let mut c = Checker::new();
        let title = c.check("title", DealTitle::parse(&self.title));
        let value = c.check("value_cents", Cents::positive(self.value_cents));
        let probability = c.check("probability", percent(self.probability.unwrap_or(50)));
        let description = c.check_opt("description", self.description.as_deref().map(description));
        c.finish(|| {
            Some(NewDeal {
                id: self.id.unwrap_or_default(),
                title: title?.into_string(),
                value: value?,
                stage: self.stage.unwrap_or(DealStage::Lead),
                status: self.status.unwrap_or(DealStatus::Active),
                probability: probability?,
                contact_id: self.contact_id,
                assigned_to_id: self.assigned_to_id,
                expected_close_date: self.expected_close_date,
                description: description.flatten(),
            })
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DealChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_cents: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<DealStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DealStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<i32>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub contact_id: Option<Option<ContactId>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub assigned_to_id: Option<Option<UserId>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub expected_close_date: Option<Option<NaiveDate>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_close_date: Option<Option<NaiveDate>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub lost_reason: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<Option<String>>,
}

impl DealChanges {
    pub fn validate(self) -> Result<Changes, ValidationError> {
        let nothing_sent = self == Self::default();
        let mut c = Checker::new();
        let mut out = Changes::default();
        if let Some(t) = self.title {
            if let Some(t) = c.check("title", DealTitle::parse(&t)) {
                out.set("title", FieldValue::Text(Some(t.into_string())));
            }
        }
        if let Some(v) = self.value_cents {
            if let Some(v) = c.check("value_cents", Cents::positive(v)) {
                out.set("value_cents", FieldValue::Int(Some(v.get())));
            }
        }
        if let Some(s) = self.stage {
            out.set("stage", FieldValue::Text(Some(s.as_str().into())));
        }
        if let Some(s) = self.status {
            out.set("status", FieldValue::Text(Some(s.as_str().into())));
        }
        if let Some(p) = self.probability {
            if let Some(p) = c.check("probability", percent(p)) {
                out.set("probability", FieldValue::Int(Some(p.into())));
            }
        }
        if let Some(v) = self.contact_id {
            out.set("contact_id", FieldValue::Id(v.map(|v| v.0)));
        }
        if let Some(v) = self.assigned_to_id {
            out.set("assigned_to_id", FieldValue::Id(v.map(|v| v.0)));
        }
        if let Some(v) = self.expected_close_date {
            out.set("expected_close_date", FieldValue::Date(v));
        }
        if let Some(v) = self.actual_close_date {
            out.set("actual_close_date", FieldValue::Date(v));
        }
        text_change(
            &mut c,
            &mut out,
            "lost_reason",
            self.lost_reason,
            lost_reason,
        );
        text_change(
            &mut c,
            &mut out,
            "description",
            self.description,
            description,
        );
        require_some(&mut c, nothing_sent);
        c.finish(|| Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deal_value_must_be_positive_and_probability_a_percentage() {
        let bad = CreateDeal {
            title: "Sale".into(),
            value_cents: -100,
            probability: Some(150),
            ..Default::default()
        };
        let fields: Vec<_> = bad
            .validate()
            .unwrap_err()
            .fields
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(fields, vec!["value_cents", "probability"]);
        let ok = CreateDeal {
            title: "Sale of 12 Elm St".into(),
            value_cents: 45_000_000,
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(
            (ok.stage, ok.status, ok.probability),
            (DealStage::Lead, DealStatus::Active, 50)
        );
    }
}
